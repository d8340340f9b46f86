"""Fixtures for the contract tests: a web3 connection to the session's anvil, dev accounts, fresh deployments."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from contracts.chain import connect
from contracts.deploy import Deployment, deploy
from contracts.node_rules import NodeRulesClient
from lacchain.enode import Enode

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def dev_account(index: int) -> LocalAccount:
    """Anvil's funded dev account ``index`` (derived from its well-known mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


def random_node_id() -> str:
    return secrets.token_hex(64)


def random_enode(host: str = "node.example.org", port: int = 60606) -> Enode:
    return Enode.of(random_node_id(), host, port)


def events(contract: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    """The arguments of every ``name`` event ``contract`` emitted in the transaction (other logs ignored)."""
    return [dict(log["args"]) for log in contract.events[name]().process_receipt(receipt, errors=DISCARD)]


@pytest.fixture(scope="session")
def w3(anvil_url: str) -> Web3:
    return connect(anvil_url)


@pytest.fixture(scope="session")
def admin() -> LocalAccount:
    return dev_account(0)


@pytest.fixture(scope="session")
def outsider() -> LocalAccount:
    """A funded account that is no admin."""
    return dev_account(1)


@pytest.fixture(scope="module")
def deployment(w3: Web3, admin: LocalAccount) -> Deployment:
    """One Admin + NodeIngress + NodeRules set per test module (tests use their own random node ids)."""
    return deploy(w3, admin)


@pytest.fixture(scope="module")
def client(w3: Web3, deployment: Deployment, admin: LocalAccount) -> NodeRulesClient:
    return NodeRulesClient(w3, deployment.ingress, admin)
