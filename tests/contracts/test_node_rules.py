"""NodeIngress + NodeRules + Admin on anvil: changes by admins, refusals, events, Besu's v2 call through the ingress."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from contracts import RULES_CONTRACT
from contracts.chain import TransactionReverted, contract_at, transact
from contracts.deploy import Deployment, deploy_rules, lookup, register_rules
from contracts.node_rules import NodeRulesClient, NodeRulesError, NotAdminError
from lacchain.enode import Enode
from tests.contracts.conftest import events, random_enode, random_node_id

pytestmark = pytest.mark.slow


def ingress_allows(w3: Web3, deployment: Deployment, enode: Enode) -> bool:
    """Ask the ingress exactly as Besu's v2 controller does: connectionAllowed(string,string,uint16) -> bool."""
    ingress = contract_at(w3, "NodeIngress", deployment.ingress)
    return bool(ingress.functions.connectionAllowed(*enode.permissioning_v2()).call())


# ---- Besu's v2 call through the ingress ------------------------------------------------------------------------


def test_dns_host_lifecycle_through_the_ingress(w3: Web3, deployment: Deployment, client: NodeRulesClient) -> None:
    enode = random_enode("validator1.lacchain.example.org")
    assert not ingress_allows(w3, deployment, enode)  # unknown node
    client.add(enode)
    assert ingress_allows(w3, deployment, enode)
    assert client.is_allowed(enode)

    moved = enode.with_host("validator1.member.example.net", 60607)
    client.update(enode, moved)
    assert ingress_allows(w3, deployment, moved)
    assert not ingress_allows(w3, deployment, enode)  # the old host no longer
    assert not ingress_allows(w3, deployment, enode.with_host("validator1.member.example.net"))  # old port, new host
    assert moved in client.list_enodes() and enode not in client.list_enodes()

    client.remove(moved)
    assert not ingress_allows(w3, deployment, moved)
    assert moved not in client.list_enodes()


def test_unknown_node_and_other_address_of_a_listed_node(deployment: Deployment, client: NodeRulesClient) -> None:
    enode = random_enode("10.0.0.1")
    client.add(enode)
    assert client.is_allowed(enode)
    assert not client.is_allowed(random_enode("10.0.0.1"))  # same host, other node id
    assert not client.is_allowed(enode.with_host("10.0.0.2"))
    assert not client.is_allowed(enode.with_host("10.0.0.1", 30303))


def test_besu_argument_forms_are_normalized(w3: Web3, deployment: Deployment, client: NodeRulesClient) -> None:
    ipv6 = random_enode("2001:db8::17")
    dns = random_enode("boot.example.org")
    client.add(ipv6)
    client.add(dns)
    ingress = contract_at(w3, "NodeIngress", deployment.ingress)

    def allowed(node_id: str, host: str, port: int) -> bool:
        return bool(ingress.functions.connectionAllowed(node_id, host, port).call())

    # Java's URI.getHost() keeps the brackets of an IPv6 literal; case does not matter in hosts or ids.
    assert allowed(ipv6.node_id, "[2001:db8::17]", 60606)
    assert allowed(ipv6.node_id, "2001:DB8::17", 60606)
    assert allowed(dns.node_id.upper(), "Boot.Example.ORG", 60606)
    # Malformed input is "not allowed", never a revert (Besu treats a revert as an error).
    assert not allowed(dns.node_id[:-2], "boot.example.org", 60606)
    assert not allowed("zz" + dns.node_id[2:], "boot.example.org", 60606)
    assert not allowed(dns.node_id, "", 60606)
    assert not allowed(dns.node_id, "[]", 60606)
    assert not allowed(dns.node_id, "boot.example.org ", 60606)
    assert not allowed(dns.node_id, "boot.example.org", 0)


def test_ingress_without_rules_refuses_and_switches_rules(w3: Web3, admin: LocalAccount) -> None:
    from contracts.chain import deploy_contract

    admin_contract = deploy_contract(w3, admin, "Admin", admin.address)
    ingress = deploy_contract(w3, admin, "NodeIngress", admin_contract)
    enode = random_enode()
    contract = contract_at(w3, "NodeIngress", ingress)
    assert contract.functions.connectionAllowed(*enode.permissioning_v2()).call() is False
    assert contract.functions.getAllContractKeys().call() == [b"administration".ljust(32, b"\0")]
    with pytest.raises(NodeRulesError, match="has no rules contract registered"):
        NodeRulesClient(w3, ingress, admin).list_enodes()

    # A rules contract can be filled before it is registered; registering it switches the allowlist at once.
    rules = deploy_rules(w3, admin, ingress, register=False)
    staged = NodeRulesClient(w3, ingress, admin, rules=rules)
    receipt = staged.add(enode)
    assert staged.is_listed(enode) and not staged.is_allowed(enode)
    assert events(contract, "NodePermissionsUpdated", receipt) == []  # not live yet: no event
    receipt = register_rules(w3, admin, ingress, rules)
    assert events(contract, "RegistryUpdated", receipt) == [{"contractAddress": rules, "contractName": RULES_CONTRACT}]
    assert events(contract, "NodePermissionsUpdated", receipt) == [{"addsRestrictions": True}]
    assert NodeRulesClient(w3, ingress).is_allowed(enode)
    assert lookup(w3, ingress) == Deployment(ingress=ingress, rules=rules, admin=admin_contract)


# ---- changes, refusals and events ------------------------------------------------------------------------------


def test_add_update_remove_emit_events(w3: Web3, deployment: Deployment, client: NodeRulesClient) -> None:
    rules = contract_at(w3, "NodeRules", deployment.rules)
    ingress = contract_at(w3, "NodeIngress", deployment.ingress)
    enode = random_enode("node7.example.org")
    id_hash = keccak(text=enode.node_id)

    receipt = client.add(enode)
    assert events(rules, "EnodeAdded", receipt) == [
        {"enodeIdHash": id_hash, "enodeId": enode.node_id, "host": "node7.example.org", "port": 60606}
    ]
    assert events(ingress, "NodePermissionsUpdated", receipt) == [{"addsRestrictions": False}]

    receipt = client.update(enode, enode.with_host("203.0.113.9", 30303))
    assert events(rules, "EnodeUpdated", receipt) == [
        {
            "enodeIdHash": id_hash,
            "enodeId": enode.node_id,
            "oldHost": "node7.example.org",
            "oldPort": 60606,
            "newHost": "203.0.113.9",
            "newPort": 30303,
        }
    ]
    assert events(ingress, "NodePermissionsUpdated", receipt) == [{"addsRestrictions": True}]

    receipt = client.remove(enode.with_host("203.0.113.9", 30303))
    assert events(rules, "EnodeRemoved", receipt) == [
        {"enodeIdHash": id_hash, "enodeId": enode.node_id, "host": "203.0.113.9", "port": 30303}
    ]
    assert events(ingress, "NodePermissionsUpdated", receipt) == [{"addsRestrictions": True}]


def test_non_admin_is_refused_by_the_contract(
    w3: Web3, deployment: Deployment, client: NodeRulesClient, outsider: LocalAccount
) -> None:
    rules = contract_at(w3, "NodeRules", deployment.rules)
    listed = random_enode()
    client.add(listed)
    node_id, host, port = random_enode().permissioning_v2()
    for function in (
        rules.functions.addEnode(node_id, host, port),
        rules.functions.removeEnode(*listed.permissioning_v2()),
        rules.functions.updateEnode(listed.node_id, listed.host, listed.port, "other.example.org", 1),
    ):
        with pytest.raises(TransactionReverted) as raised:
            transact(w3, outsider, function, "outsider change")
        assert raised.value.reason == "NodeRules: sender is not an admin"
    ingress = contract_at(w3, "NodeIngress", deployment.ingress)
    with pytest.raises(TransactionReverted, match="NodeIngress: sender is not an admin"):
        transact(w3, outsider, ingress.functions.setContractAddress(RULES_CONTRACT, deployment.admin), "hijack")
    assert client.is_allowed(listed)


def test_client_names_the_account_that_is_not_an_admin(
    w3: Web3, deployment: Deployment, outsider: LocalAccount
) -> None:
    client = NodeRulesClient(w3, deployment.ingress, outsider)
    with pytest.raises(NotAdminError, match=f"account {outsider.address} is not an admin"):
        client.add(random_enode())
    with pytest.raises(NodeRulesError, match="no account"):
        NodeRulesClient(w3, deployment.ingress).add(random_enode())


@pytest.mark.parametrize(
    ("node_id", "host", "port", "reason"),
    [
        ("ab" * 63, "node.example.org", 60606, "NodeRules: enodeId must be 128 hex digits"),
        ("0x" + "ab" * 63, "node.example.org", 60606, "NodeRules: enodeId must be 128 hex digits"),
        ("g" * 128, "node.example.org", 60606, "NodeRules: enodeId must be 128 hex digits"),
        (None, "", 60606, "NodeRules: host must not be empty"),
        (None, "[]", 60606, "NodeRules: host must be an IP address or DNS name"),
        (None, "bad host.example.org", 60606, "NodeRules: host must be an IP address or DNS name"),
        (None, "x" * 254, 60606, "NodeRules: host must be an IP address or DNS name"),
        (None, "node.example.org", 0, "NodeRules: port must not be 0"),
    ],
)
def test_contract_validates_input(
    w3: Web3, deployment: Deployment, admin: LocalAccount, node_id: str | None, host: str, port: int, reason: str
) -> None:
    rules = contract_at(w3, "NodeRules", deployment.rules)
    with pytest.raises(TransactionReverted) as raised:
        transact(w3, admin, rules.functions.addEnode(node_id or random_node_id(), host, port), "add")
    assert raised.value.reason.startswith(reason)


def test_duplicates_and_missing_entries_are_refused(client: NodeRulesClient) -> None:
    enode = random_enode("dup.example.org")
    client.add(enode)
    with pytest.raises(TransactionReverted, match="NodeRules: enode is already listed"):
        client.add(Enode.of(enode.node_id.upper(), "DUP.example.org", enode.port))  # same after normalization
    assert client.ensure(enode) is False
    other = enode.with_host("dup2.example.org")
    assert client.ensure(other) is True
    with pytest.raises(TransactionReverted, match="NodeRules: new address is already listed"):
        client.update(enode, other)
    missing = random_enode()
    with pytest.raises(TransactionReverted, match="NodeRules: enode is not listed"):
        client.remove(missing)
    with pytest.raises(TransactionReverted, match="NodeRules: enode is not listed"):
        client.update(missing, missing.with_host("x.example.org"))
    with pytest.raises(NodeRulesError, match="update keeps the node id"):
        client.update(enode, random_enode())
    assert sorted(e.host for e in client.entries_for(enode.node_id)) == ["dup.example.org", "dup2.example.org"]


def test_enumeration_survives_removal_from_the_middle(w3: Web3, admin: LocalAccount) -> None:
    from contracts.deploy import deploy

    fresh = deploy(w3, admin)
    client = NodeRulesClient(w3, fresh.ingress, admin)
    enodes = [random_enode(f"n{i}.example.org") for i in range(5)]
    for enode in enodes:
        client.add(enode)
    client.remove(enodes[1])
    client.remove(enodes[4])  # the last one
    remaining = [enodes[0], enodes[3], enodes[2]]  # swap-and-pop moved the last entry into the gap
    assert client.list_enodes() == remaining
    assert all(client.is_allowed(e) for e in remaining)
    assert not client.is_allowed(enodes[1]) and not client.is_allowed(enodes[4])
    rules = contract_at(w3, "NodeRules", fresh.rules)
    assert rules.functions.getSize().call() == 3
    assert rules.functions.getEnodes(1, 5).call() == [e.permissioning_v2() for e in remaining[1:]]
    assert rules.functions.getEnodes(3, 5).call() == []
    assert rules.functions.getEnodes(1, 2**256 - 1).call() == [e.permissioning_v2() for e in remaining[1:]]
    assert rules.functions.getByIndex(2).call() == list(remaining[2].permissioning_v2())
    with pytest.raises(Exception, match="NodeRules: index out of range"):
        rules.functions.getByIndex(3).call()


# ---- admin list and registry -----------------------------------------------------------------------------------


def test_admin_list_management(w3: Web3, deployment: Deployment, admin: LocalAccount, outsider: LocalAccount) -> None:
    admins = contract_at(w3, "Admin", deployment.admin)
    assert admins.functions.getAdmins().call() == [admin.address]
    with pytest.raises(TransactionReverted, match="Admin: sender is not an admin"):
        transact(w3, outsider, admins.functions.addAdmin(outsider.address), "self-promotion")
    with pytest.raises(TransactionReverted, match="Admin: cannot remove the last admin"):
        transact(w3, admin, admins.functions.removeAdmin(admin.address), "remove last")

    receipt = transact(w3, admin, admins.functions.addAdmin(outsider.address), "add admin")
    assert events(admins, "AdminAdded", receipt) == [{"account": outsider.address, "addedBy": admin.address}]
    with pytest.raises(TransactionReverted, match="Admin: account is already an admin"):
        transact(w3, admin, admins.functions.addAdmin(outsider.address), "add twice")
    enode = random_enode()
    NodeRulesClient(w3, deployment.ingress, outsider).add(enode)  # the new admin may change the allowlist

    receipt = transact(w3, admin, admins.functions.removeAdmin(outsider.address), "remove admin")
    assert events(admins, "AdminRemoved", receipt) == [{"account": outsider.address, "removedBy": admin.address}]
    assert admins.functions.getAdmins().call() == [admin.address]
    with pytest.raises(NotAdminError):
        NodeRulesClient(w3, deployment.ingress, outsider).remove(enode)


def test_registry_guards(w3: Web3, deployment: Deployment, admin: LocalAccount) -> None:
    ingress = contract_at(w3, "NodeIngress", deployment.ingress)
    admin_name = b"administration".ljust(32, b"\0")
    with pytest.raises(TransactionReverted, match="the admin contract cannot be removed"):
        transact(w3, admin, ingress.functions.removeContract(admin_name), "remove admin contract")
    with pytest.raises(TransactionReverted, match="contract address has no code"):
        transact(w3, admin, ingress.functions.setContractAddress(RULES_CONTRACT, admin.address), "EOA as rules")
    with pytest.raises(TransactionReverted, match="contract name must not be empty"):
        transact(w3, admin, ingress.functions.setContractAddress(b"\0" * 32, deployment.rules), "empty name")
    with pytest.raises(TransactionReverted, match="only the rules contract"):
        transact(w3, admin, ingress.functions.emitRulesChangeEvent(True), "fake event")
    with pytest.raises(TransactionReverted, match="contract is not registered"):
        transact(w3, admin, ingress.functions.removeContract(b"nothing".ljust(32, b"\0")), "remove nothing")
    assert ingress.functions.getContractVersion().call() == 2000000


# ---- round trip of random enodes -------------------------------------------------------------------------------

hex_ids = st.binary(min_size=64, max_size=64).map(bytes.hex)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True).filter(lambda s: not s.isdigit())
hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.lists(labels, min_size=1, max_size=4).map(".".join),
)
enodes = st.builds(Enode.of, hex_ids, hosts, st.integers(min_value=1, max_value=65535))


@settings(max_examples=25, deadline=None)
@given(enode=enodes)
def test_random_enodes_round_trip(client: NodeRulesClient, enode: Enode) -> None:
    client.add(enode)
    assert enode in client.list_enodes()
    assert client.is_allowed(enode)
    client.remove(enode)
    assert not client.is_allowed(enode)
    assert enode not in client.list_enodes()
