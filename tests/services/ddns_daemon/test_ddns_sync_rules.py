"""Who peers with whom, what the daemon accepts from the node table, and what it remembers across restarts."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lacchain.keys import NodeKey
from lacchain.stack_config import Role
from services.ddns_daemon.config import load_config
from services.ddns_daemon.daemon import Daemon
from services.ddns_daemon.state import StateStore
from services.ddns_daemon.table import NodeTable, TableClient, TableError
from services.ddns_daemon.topology import plan_for, sees
from tests.services.ddns_daemon.doubles import Reply, Scripted
from tests.services.ddns_daemon.simnet import simulated_network

NETWORK = "lacchain-test"
KEYS = {role: NodeKey.generate() for role in Role}


def row(role: Role, host: str = "52.0.0.1", **extra: object) -> dict[str, object]:
    return {
        "nodeId": KEYS[role].node_id,
        "name": role.value,
        "role": role.value,
        "host": host,
        "port": 60606,
        "sequence": 1,
        "updatedAt": 1,
        **extra,
    }


def table(*rows: dict[str, object], network: str = NETWORK) -> dict[str, object]:
    return {"network": network, "zone": "nodes.example.org", "nodes": list(rows), "enrTree": None}


@pytest.mark.parametrize(
    ("role", "peers"),
    [
        (Role.VALIDATOR, {Role.VALIDATOR, Role.BOOT}),
        (Role.BOOT, set(Role)),
        (Role.WRITER, {Role.BOOT, Role.WRITER}),
        (Role.OBSERVER, {Role.BOOT}),
    ],
)
def test_lacchain_topology(role: Role, peers: set[Role]) -> None:
    assert {other for other in Role if sees(role, other)} == peers
    assert all(sees(other, role) for other in peers)  # symmetric: whoever I dial may dial me


def test_the_plan_excludes_the_node_itself_and_lists_boots_as_bootnodes() -> None:
    document = table(*(row(role, f"52.0.0.{i + 1}") for i, role in enumerate(Role)))
    parsed = NodeTable.from_document(document, NETWORK)
    plan = plan_for(parsed, KEYS[Role.BOOT].node_id, Role.BOOT)
    assert len(plan.static_nodes) == 3 and plan.allowlist == plan.static_nodes
    assert plan.bootnodes == ()
    writer_plan = plan_for(parsed, KEYS[Role.WRITER].node_id, Role.WRITER)
    assert writer_plan.bootnodes == (f"enode://{KEYS[Role.BOOT].node_id}@52.0.0.2:60606",)


def test_boot_nodes_outside_the_table_stay_in_every_list_unless_the_table_has_them() -> None:
    outside = NodeKey.generate()
    outside_enode = f"enode://{outside.node_id}@34.1.1.1:60606"
    moved_boot = f"enode://{KEYS[Role.BOOT].node_id}@34.2.2.2:60606"
    parsed = NodeTable.from_document(table(row(Role.BOOT), row(Role.OBSERVER, "52.0.0.9")), NETWORK)
    plan = plan_for(parsed, KEYS[Role.OBSERVER].node_id, Role.OBSERVER, [outside_enode, moved_boot])
    table_boot = f"enode://{KEYS[Role.BOOT].node_id}@52.0.0.1:60606"
    assert plan.bootnodes == (table_boot, outside_enode)
    assert plan.static_nodes == plan.allowlist == (table_boot, outside_enode)


def test_unusable_rows_are_skipped_and_the_rest_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    document = table(
        row(Role.BOOT),
        row(Role.WRITER, host="not a host!"),
        {**row(Role.OBSERVER), "role": "miner"},
        {**row(Role.VALIDATOR), "nodeId": "abc"},
    )
    parsed = NodeTable.from_document(document, NETWORK)
    assert [node.role for node in parsed.nodes] == [Role.BOOT]
    assert caplog.text.count("skipped") == 3


def test_a_table_of_another_network_is_refused() -> None:
    with pytest.raises(TableError, match="serves network 'other'"):
        NodeTable.from_document(table(row(Role.BOOT), network="other"), NETWORK)


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        yield client


@pytest.mark.slow
def test_polls_are_conditional_once_the_function_sends_an_etag(http: httpx.Client) -> None:
    body = table(row(Role.BOOT))
    server = Scripted([Reply.json(200, body, {"ETag": '"v1"'}), Reply(304), Reply(304)])
    with server.server:
        client = TableClient(server.server.url, NETWORK, http)
        first, second = client.fetch(), client.fetch()
    assert first.changed and not second.changed
    assert second.table == first.table
    assert "If-None-Match" not in server.server.requests[0].headers
    assert server.server.requests[1].headers["If-None-Match"] == '"v1"'


@pytest.mark.slow
def test_without_etags_every_poll_is_plain_and_unchanged_tables_are_recognised(http: httpx.Client) -> None:
    server = Scripted([Reply.json(200, table(row(Role.BOOT)))])
    with server.server:
        client = TableClient(server.server.url, NETWORK, http)
        assert client.fetch().changed
        assert not client.fetch().changed
    assert all("If-None-Match" not in r.headers for r in server.server.requests)


def test_a_corrupt_state_file_is_moved_aside_not_lost(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    store = StateStore(tmp_path)
    assert store.state.sequence == 0
    assert (tmp_path / "state.json.corrupt").read_text() == "{not json"
    assert store.reserve_sequence(now_ms=5) == 5
    assert json.loads((tmp_path / "state.json").read_text())["sequence"] == 5
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_a_restarted_daemon_does_not_resend_an_address_the_table_has(tmp_path: Path) -> None:
    with simulated_network(tmp_path, [Role.BOOT, Role.VALIDATOR]) as network:
        node = network.nodes[0]
        first = node.start().run_once()
        assert first.published is not None and first.published.accepted
        node.daemon.close()  # type: ignore[union-attr]
        again = node.start().run_once()
        assert again.ok and again.published is None
        network.move(node, "52.1.1.1")
        moved = node.daemon.run_once()  # type: ignore[union-attr]
        assert moved.published is not None and moved.published.accepted
        assert moved.published.sequence > first.published.sequence


@pytest.mark.slow
def test_the_node_key_never_appears_in_logs_or_output(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with simulated_network(tmp_path, [Role.BOOT, Role.WRITER]) as network:
        node = network.nodes[0]
        report = node.start().run_once()
        network.move(node, "52.1.1.1")
        again = node.daemon.run_once()  # type: ignore[union-attr]
    secret = node.key.hex[2:]
    assert report.published is not None and again.published is not None
    assert secret not in caplog.text
    assert secret not in repr(report) + repr(again) + repr(node.daemon.key)  # type: ignore[union-attr]


@pytest.mark.slow
def test_a_static_address_is_published_without_asking_any_source(tmp_path: Path) -> None:
    with simulated_network(tmp_path, [Role.BOOT]) as network:
        node = network.nodes[0]
        config = load_config(node.config_path, environ={"LACCHAIN_DDNS_IP__STATIC_ADDRESS": "52.3.3.3"})
        daemon = Daemon(config, node.key)
        try:
            report = daemon.run_once()
        finally:
            daemon.close()
    assert daemon.detector is None
    assert report.address == "52.3.3.3" and report.published is not None and report.published.accepted
