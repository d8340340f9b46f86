"""Client of the v2 node permissioning contracts (NodeIngress + NodeRules), for the DDNS daemon and the BaaS
controller.

    client = NodeRulesClient.connect("http://127.0.0.1:4545", private_key=key)   # ingress 0x...9999 by default
    client.add(Enode.parse("enode://<id>@node1.example.org:60606"))
    client.update(old_enode, old_enode.with_host("node1.example.net"))
    client.is_allowed(enode)       # what Besu (interface v2) would be told, asked through the ingress
    client.list_enodes()

The rules contract is looked up in the ingress (registry name "rules") on every use, so a switch of the rules
contract by an admin is followed at once; pass ``rules=`` to work on a contract that is not registered (yet).
Writes check first that the account is an admin and fail with ``NotAdminError`` naming it; a write the contract
refuses raises ``TransactionReverted`` with the contract's reason.
"""

from __future__ import annotations

import logging

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from contracts import RULES_CONTRACT
from contracts.chain import (
    ChainError,
    account_from_key,
    call,
    connect,
    contract_at,
    transact,
)
from lacchain.enode import Enode, EnodeError
from lacchain.presets import NODES_INGRESS_ADDRESS

log = logging.getLogger(__name__)
PAGE_SIZE = 100


class NodeRulesError(ChainError):
    """The node permissioning contracts cannot do what was asked (no rules contract, no account, ...)."""


class NotAdminError(NodeRulesError):
    """The account is not in the admin list that governs the ingress."""


class NodeRulesClient:
    """Reads and changes the enode allowlist behind a NodeIngress."""

    def __init__(
        self,
        w3: Web3,
        ingress: str = NODES_INGRESS_ADDRESS,
        account: LocalAccount | None = None,
        rules: str | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.ingress: Contract = contract_at(w3, "NodeIngress", ingress)
        self._rules = Web3.to_checksum_address(rules) if rules else None

    @classmethod
    def connect(
        cls,
        rpc_url: str,
        ingress: str = NODES_INGRESS_ADDRESS,
        private_key: str | None = None,
        rules: str | None = None,
    ) -> NodeRulesClient:
        account = account_from_key(private_key) if private_key else None
        return cls(connect(rpc_url), ingress, account, rules)

    # ---- reading ------------------------------------------------------------------------------------------

    @property
    def rules_address(self) -> str:
        if self._rules:
            return self._rules
        address: str = call(self.ingress.functions.getContractAddress(RULES_CONTRACT), "NodeIngress.getContractAddress")
        if int(address, 16) == 0:
            raise NodeRulesError(f"the node ingress {self.ingress.address} has no rules contract registered")
        return address

    @property
    def rules(self) -> Contract:
        return contract_at(self.w3, "NodeRules", self.rules_address)

    def list_enodes(self) -> list[Enode]:
        """Every listed enode, in list order (entries that are not valid enodes are logged and left out)."""
        rules = self.rules
        size: int = call(rules.functions.getSize(), "NodeRules.getSize")
        result = []
        for start in range(0, size, PAGE_SIZE):
            for node_id, host, port in call(rules.functions.getEnodes(start, PAGE_SIZE), "NodeRules.getEnodes"):
                try:
                    result.append(Enode.of(node_id, host, port))
                except EnodeError as error:
                    log.warning(
                        "node rules %s lists an invalid enode (%s@%s:%s): %s", rules.address, node_id, host, port, error
                    )
        return result

    def entries_for(self, node_id: str) -> list[Enode]:
        """The listed addresses of one node id."""
        wanted = node_id.lower().removeprefix("0x")
        return [enode for enode in self.list_enodes() if enode.node_id == wanted]

    def is_listed(self, enode: Enode) -> bool:
        """True when the rules contract lists exactly this (node id, host, port)."""
        return bool(
            call(self.rules.functions.connectionAllowed(*enode.permissioning_v2()), "NodeRules.connectionAllowed")
        )

    def is_allowed(self, enode: Enode) -> bool:
        """Besu's interface-v2 answer for this enode, asked through the ingress as Besu asks it."""
        allowed = call(
            self.ingress.functions.connectionAllowed(*enode.permissioning_v2()), "NodeIngress.connectionAllowed"
        )
        return bool(allowed)

    def is_admin(self, address: str | None = None) -> bool:
        """Whether ``address`` (default: this client's account) may change the allowlist."""
        who = address or self._account().address
        return bool(
            call(self.ingress.functions.isAuthorized(Web3.to_checksum_address(who)), "NodeIngress.isAuthorized")
        )

    # ---- changing (admins) --------------------------------------------------------------------------------

    def add(self, enode: Enode) -> TxReceipt:
        """List ``enode``; reverts (``TransactionReverted``) when it is listed already."""
        return self._write(self.rules.functions.addEnode(*enode.permissioning_v2()), f"adding {enode}")

    def ensure(self, enode: Enode) -> bool:
        """List ``enode`` unless it is listed; True when it was added."""
        if self.is_listed(enode):
            return False
        self.add(enode)
        return True

    def update(self, old: Enode, new: Enode) -> TxReceipt:
        """Move a listed enode to the host and port of ``new`` (same node id), keeping its list position."""
        if old.node_id != new.node_id:
            raise NodeRulesError(
                f"update keeps the node id: {old.node_id[:16]}... != {new.node_id[:16]}...; "
                "remove the old enode and add the new one instead"
            )
        node_id, old_host, old_port = old.permissioning_v2()
        _, new_host, new_port = new.permissioning_v2()
        return self._write(
            self.rules.functions.updateEnode(node_id, old_host, old_port, new_host, new_port),
            f"moving {old} to {new_host}:{new_port}",
        )

    def remove(self, enode: Enode) -> TxReceipt:
        """Unlist ``enode``; reverts (``TransactionReverted``) when it is not listed."""
        return self._write(self.rules.functions.removeEnode(*enode.permissioning_v2()), f"removing {enode}")

    def _account(self) -> LocalAccount:
        if self.account is None:
            raise NodeRulesError("no account: give the client an admin's private key to change the allowlist")
        return self.account

    def _write(self, function: ContractFunction, action: str) -> TxReceipt:
        account = self._account()
        if not self.is_admin(account.address):
            raise NotAdminError(
                f"account {account.address} is not an admin of the node permissioning contracts "
                f"(ingress {self.ingress.address}); an admin must add it with Admin.addAdmin"
            )
        return transact(self.w3, account, function, action)
