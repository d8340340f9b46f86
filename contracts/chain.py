"""Small web3.py helpers shared by deploy, migrate and the node rules client: connect, sign, send, explain reverts.

Transactions are signed locally with the given key and sent raw as legacy (type 0) transactions with an explicit
gas price: LACChain's genesis enables no London fork, so its Besu nodes have no base fee and refuse EIP-1559
transactions; legacy transactions work on every chain (anvil included).
"""

from __future__ import annotations

import os
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import TxReceipt

from contracts import load_artifact
from lacchain.errors import LacchainError

DEFAULT_KEY_ENV = "LACCHAIN_ADMIN_KEY"
GAS_MARGIN = 1.25
"""Estimated gas times this margin is the gas limit sent (the estimate is exact for these contracts; the margin
absorbs state changes between estimate and inclusion)."""


class ChainError(LacchainError):
    """A call or transaction that failed; the message carries the contract's revert reason when there is one."""


class TransactionReverted(ChainError):
    """A transaction or call refused by the contract; ``reason`` is the contract's revert string."""

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason
        super().__init__(f"{action} reverted: {reason}")


def connect(rpc_url: str, timeout: float = 30.0) -> Web3:
    """A Web3 connected to a JSON-RPC endpoint; fails at once when nothing answers there."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    if not w3.is_connected():
        raise ChainError(f"no JSON-RPC endpoint answers at {rpc_url}")
    return w3


def account_from_key(private_key: str | bytes) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_key(private_key)
    except (ValueError, TypeError) as error:
        raise ChainError(f"not a valid secp256k1 private key: {error}") from None
    return account


def key_from_env(variable: str = DEFAULT_KEY_ENV) -> str:
    """A private key from an environment variable (keys are not taken on command lines, where `ps` shows them)."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ChainError(f"set {variable} to the admin account's private key (hex)")
    return value


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """The artifact's contract bound to ``address``."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name)["abi"])


def revert_reason(error: Exception) -> str:
    """The contract's revert string from a web3 exception (``execution reverted: X`` -> ``X``)."""
    if isinstance(error, ContractLogicError | ContractCustomError | ContractPanicError):
        message = str(error.message or error)
    else:
        message = str(error)
    for prefix in ("execution reverted: ", "execution reverted:", "revert: "):
        if prefix in message:
            message = message.split(prefix, 1)[1]
    return message.strip() or "no reason given"


def call(function: ContractFunction, action: str) -> Any:
    """``function.call()`` with reverts turned into ``TransactionReverted``."""
    try:
        return function.call()
    except (ContractLogicError, ContractCustomError, ContractPanicError) as error:
        raise TransactionReverted(action, revert_reason(error)) from None


def transact(
    w3: Web3, account: LocalAccount, function: ContractFunction | ContractConstructor, action: str
) -> TxReceipt:
    """Sign and send one call (or deployment) from ``account``; wait for its receipt.

    The call is simulated first (gas estimation), so a revert is reported with the contract's reason before
    anything is sent; a transaction that still fails on chain raises too.
    """
    try:
        gas = function.estimate_gas({"from": account.address})
    except (ContractLogicError, ContractCustomError, ContractPanicError) as error:
        raise TransactionReverted(action, revert_reason(error)) from None
    transaction = function.build_transaction(
        {
            "from": account.address,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "gas": int(gas * GAS_MARGIN),
            "gasPrice": w3.eth.gas_price,
            "chainId": w3.eth.chain_id,
        }
    )
    signed = account.sign_transaction(transaction)  # type: ignore[arg-type]  # TxParams is a valid dict here
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise ChainError(f"{action} failed on chain (transaction {tx_hash.to_0x_hex()})")
    return receipt


def deploy_contract(w3: Web3, account: LocalAccount, name: str, *args: Any) -> str:
    """Deploy the artifact ``name`` with constructor ``args``; return its checksum address."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = transact(w3, account, factory.constructor(*args), f"deploying {name}")
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError(f"deploying {name}: the receipt has no contract address")
    return Web3.to_checksum_address(address)
