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
from lacchain.topology import MAX_BOOTS_DIALLED, RING_CHORDS, RING_SUCCESSORS
from services.ddns_daemon.config import load_config
from services.ddns_daemon.daemon import Daemon
from services.ddns_daemon.state import StateStore
from services.ddns_daemon.table import NodeTable, TableClient, TableError
from services.ddns_daemon.topology import plan_for
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


V, B, W, OBS = Role.VALIDATOR, Role.BOOT, Role.WRITER, Role.OBSERVER


def roster_table(roles: list[Role]) -> tuple[NodeTable, list[str]]:
    """A table with one row per role in ``roles`` (names ``n-00``..); returns it and the node ids in order."""
    keys = [NodeKey.generate() for _ in roles]
    rows = [
        {
            "nodeId": key.node_id,
            "name": f"n-{i:02d}",
            "role": role.value,
            "host": f"52.1.{i // 250}.{i % 250 + 1}",
            "port": 60606,
        }
        for i, (key, role) in enumerate(zip(keys, roles, strict=True))
    ]
    return NodeTable.from_document(table(*rows), NETWORK), [key.node_id for key in keys]


def roles_of(parsed: NodeTable, enodes: tuple[str, ...]) -> list[Role]:
    by_id = {node.node_id: node.role for node in parsed.nodes}
    return sorted(by_id[url.removeprefix("enode://").split("@")[0]] for url in enodes)


@pytest.mark.parametrize(
    ("role", "allowed", "dialled"),
    [
        (V, {V, B}, {V, B}),
        (B, {V, B, W, OBS}, {B}),
        (W, {B, W}, {B}),
        (OBS, {B}, {B}),
    ],
)
def test_lacchain_roles_decide_who_is_allowed_and_who_is_dialled(
    role: Role, allowed: set[Role], dialled: set[Role]
) -> None:
    """LACChain's rules, written out here rather than taken from the code under test: in a small network (no
    bound in play) a node allows every node of the roles it peers with and dials every one of the roles it dials."""
    parsed, ids = roster_table([V, V, B, B, W, W, OBS, OBS])
    me = ids[[V, V, B, B, W, W, OBS, OBS].index(role)]
    plan = plan_for(parsed, me, role)
    others = [node.role for node in parsed.nodes if node.node_id != me]
    assert roles_of(parsed, plan.allowlist) == sorted(r for r in others if r in allowed)
    assert roles_of(parsed, plan.static_nodes) == sorted(r for r in others if r in dialled)
    assert roles_of(parsed, plan.bootnodes) == sorted(r for r in others if r is B)
    assert set(plan.bootnodes) <= set(plan.static_nodes) <= set(plan.allowlist)


def test_dialling_is_bounded_and_spread_over_the_boots_while_everyone_may_connect() -> None:
    roles = [V] * 30 + [B] * 6 + [W] * 10 + [OBS] * 10
    parsed, ids = roster_table(roles)
    boots = {node.enode.url for node in parsed.nodes if node.role is B}
    choices = set()
    for index in range(36, 56):  # writers and observers
        plan = plan_for(parsed, ids[index], roles[index])
        assert len(plan.static_nodes) == MAX_BOOTS_DIALLED and set(plan.static_nodes) <= boots
        assert plan.bootnodes == plan.static_nodes
        assert boots <= set(plan.allowlist)  # not dialled, yet allowed: discovery may find them
        assert plan == plan_for(parsed, ids[index], roles[index])  # stable from poll to poll
        choices.add(plan.static_nodes)
    assert len(choices) > 1  # different nodes lean on different boots

    validator = plan_for(parsed, ids[0], V)
    validators = {node.enode.url for node in parsed.nodes if node.role is V and node.node_id != ids[0]}
    dialled_validators = set(validator.static_nodes) & validators
    assert len(dialled_validators) == RING_SUCCESSORS + RING_CHORDS < len(validators)
    assert set(validator.static_nodes) - dialled_validators <= boots
    assert set(validator.allowlist) == validators | boots  # never a writer or an observer


def test_a_node_the_table_does_not_list_yet_still_gets_a_bounded_plan() -> None:
    parsed, _ = roster_table([V] * 30 + [B] * 6)
    newcomer = NodeKey.generate().node_id
    plan = plan_for(parsed, newcomer, V)
    assert len(plan.static_nodes) == RING_SUCCESSORS + RING_CHORDS + MAX_BOOTS_DIALLED
    assert len(plan.allowlist) == 36


def test_the_plan_excludes_the_node_itself_and_lists_boots_as_bootnodes() -> None:
    document = table(*(row(role, f"52.0.0.{i + 1}") for i, role in enumerate(Role)))
    parsed = NodeTable.from_document(document, NETWORK)
    plan = plan_for(parsed, KEYS[Role.BOOT].node_id, Role.BOOT)
    assert len(plan.allowlist) == 3 and KEYS[Role.BOOT].node_id not in str(plan.allowlist)
    assert plan.static_nodes == plan.bootnodes == ()  # a boot dials other boots only, and there is none
    writer_plan = plan_for(parsed, KEYS[Role.WRITER].node_id, Role.WRITER)
    assert writer_plan.bootnodes == writer_plan.static_nodes == (f"enode://{KEYS[Role.BOOT].node_id}@52.0.0.2:60606",)


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


@pytest.mark.slow
def test_the_real_function_answers_the_daemons_unchanged_polls_with_304(tmp_path: Path) -> None:
    with simulated_network(tmp_path, [Role.BOOT, Role.WRITER]) as network:
        service = network.service
        handle = service.handle  # type: ignore[attr-defined]
        answers: list[tuple[str, int, int]] = []

        def recording(method: str, path: str, body: bytes = b"", headers: object = None) -> object:
            response = handle(method, path, body, headers)
            if path.startswith("/v1/nodes"):
                answers.append((method, response.status, len(response.encoded()) if response.has_body else 0))
            return response

        service.handle = recording  # type: ignore[attr-defined]
        node = network.nodes[0]
        daemon = node.start()
        daemon.run_once()  # first table (empty), then its own address is published
        answers.clear()
        first, second, third = daemon.sync(), daemon.sync(), daemon.sync()
        assert first.table_changed and not second.table_changed and not third.table_changed
        assert [status for _, status, _ in answers] == [200, 304, 304]
        assert answers[1][2] == answers[2][2] == 0
