"""Migration from an interface-v1 rules contract (bytes32, bytes32, bytes16, uint16) to the v2 string enodes."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts.chain import contract_at, deploy_contract, transact
from contracts.deploy import Deployment, deploy_rules
from contracts.migrate import main, migrate, read_v1_enodes
from contracts.node_rules import NodeRulesClient
from lacchain.enode import Enode
from tests.contracts.conftest import random_node_id

pytestmark = pytest.mark.slow

V1_ENODES = [
    Enode.of(random_node_id(), "192.0.2.10", 60606),
    Enode.of(random_node_id(), "2001:db8::1", 60606),
    Enode.of(random_node_id(), "10.20.30.40", 30303),
    Enode.of(random_node_id(), "fe80::1:2:3", 60607),
]


@pytest.fixture(scope="module")
def v1_rules(w3: Web3, admin: LocalAccount) -> str:
    address = deploy_contract(w3, admin, "NodeRulesV1")
    v1 = contract_at(w3, "NodeRulesV1", address)
    for enode in V1_ENODES:
        transact(w3, admin, v1.functions.addEnode(*enode.permissioning_v1()), "add v1 enode")
    return address


def test_v1_entries_decode_to_text_hosts(w3: Web3, v1_rules: str) -> None:
    raw = contract_at(w3, "NodeRulesV1", v1_rules).functions.getByIndex(0).call()
    assert raw[2] == bytes.fromhex("00000000000000000000ffffc000020a")  # stored IPv4-mapped, as Besu sends it
    enodes, invalid = read_v1_enodes(w3, v1_rules)
    assert enodes == V1_ENODES and invalid == []
    assert [e.host for e in enodes] == ["192.0.2.10", "2001:db8::1", "10.20.30.40", "fe80::1:2:3"]


def test_dry_run_then_migrate_then_rerun(
    w3: Web3, deployment: Deployment, client: NodeRulesClient, v1_rules: str
) -> None:
    already = V1_ENODES[2]
    client.add(already)  # listed before the migration: must not be added twice
    lines: list[str] = []

    dry = migrate(w3, v1_rules, client, dry_run=True, echo=lines.append)
    assert dry.added == [V1_ENODES[0], V1_ENODES[1], V1_ENODES[3]] and dry.already_listed == [already]
    assert f"would add {V1_ENODES[0]}" in lines and f"already listed {already}" in lines
    assert lines[-1].startswith("4 v1 enodes read") and "would add 3" in lines[-1]
    assert client.list_enodes() == [already]  # nothing sent

    report = migrate(w3, v1_rules, client, echo=lines.append)
    assert report.added == dry.added
    assert client.list_enodes() == [already, V1_ENODES[0], V1_ENODES[1], V1_ENODES[3]]
    ingress = contract_at(w3, "NodeIngress", deployment.ingress)
    for enode in V1_ENODES:
        node_id, host, port = enode.permissioning_v2()
        assert ingress.functions.connectionAllowed(node_id, host, port).call() is True

    rerun = migrate(w3, v1_rules, client, echo=lines.append)
    assert rerun.added == [] and rerun.already_listed == V1_ENODES
    assert len(client.list_enodes()) == 4


def test_cli_dry_run_and_unregistered_target(
    w3: Web3,
    anvil_url: str,
    deployment: Deployment,
    admin: LocalAccount,
    v1_rules: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staged = deploy_rules(w3, admin, deployment.ingress, register=False)
    common = ["--rpc-url", anvil_url, "--from-v1", v1_rules, "--ingress", deployment.ingress, "--rules", staged]
    monkeypatch.delenv("LACCHAIN_ADMIN_KEY", raising=False)
    assert main([*common, "--dry-run"]) == 0  # no key needed
    out = capsys.readouterr().out
    assert out.count("would add enode://") == 4 and "would add 4," in out

    assert main(common) == 1
    assert "set LACCHAIN_ADMIN_KEY" in capsys.readouterr().err

    monkeypatch.setenv("LACCHAIN_ADMIN_KEY", admin.key.hex())
    assert main(common) == 0
    assert main(common) == 0
    out = capsys.readouterr().out
    assert out.count("added enode://") == 4 and out.count("already listed ") == 4
    assert NodeRulesClient(w3, deployment.ingress, rules=staged).list_enodes() == V1_ENODES


def test_invalid_v1_entries_are_reported(w3: Web3, admin: LocalAccount, client: NodeRulesClient) -> None:
    address = deploy_contract(w3, admin, "NodeRulesV1")
    v1 = contract_at(w3, "NodeRulesV1", address)
    good = Enode.of(random_node_id(), "198.51.100.7", 60606)
    high, low, ip, _ = good.permissioning_v1()
    transact(w3, admin, v1.functions.addEnode(high, low, ip, 0), "port 0")
    transact(w3, admin, v1.functions.addEnode(*good.permissioning_v1()), "good")
    report = migrate(w3, address, client, echo=lambda _line: None)
    assert report.added == [good]
    assert len(report.invalid) == 1 and "entry 0" in report.invalid[0] and "port 0" in report.invalid[0]
