"""End to end on loopback: 20 nodes, the real DDNS function (on-prem HTTP server), one node moves.

Each node has its own key, config directory, state directory and Besu JSON-RPC double, reached over WebSocket as
Besu's loopback ``rpc-ws`` endpoint (the daemon's default transport); node 7's address changes at the echo
services, one ``once`` cycle of its daemon runs as the real command line, then every node syncs. Every node whose
role peers with node 7 must end with its new enode in its allowlist (changed live with ``perm_*``); the nodes that
dial node 7 (``lacchain.topology.select_dialled``: the validator mesh and a bounded set of boots) must also have it
in their static nodes and have been told live (``admin_addPeer`` new, ``admin_removePeer`` old); all others must
not have been touched at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from lacchain.enr import EnrTree
from lacchain.keys import NodeKey
from lacchain.stack_config import Role
from lacchain.topology import MAX_BOOTS_DIALLED, peers_with, select_dialled
from services.ddns_function.core import DdnsService
from tests.services.ddns_daemon.doubles import BesuRpcDouble, WsDouble
from tests.services.ddns_daemon.simnet import SimNetwork, SimNode, initial_address, simulated_network
from tests.standins import ROOT, free_port, wait_until

pytestmark = pytest.mark.slow

V, B, W, OBS = Role.VALIDATOR, Role.BOOT, Role.WRITER, Role.OBSERVER
NODE_7_WRITER = [V] * 5 + [B] * 2 + [W] * 7 + [OBS] * 6
NODE_7_BOOT = [V] * 5 + [W] * 2 + [B] * 2 + [W] * 5 + [OBS] * 6
NODE_7_ONE_OF_SIX_BOOTS = [V] * 4 + [B] * 6 + [W] * 5 + [OBS] * 5
"""More boots than a node dials: some nodes dial node 7, the others only allow it."""
MOVED_TO = "52.7.7.7"


def allowlist(node: SimNode) -> list[str]:
    return list(tomllib.loads((node.etc / "permissions_config.toml").read_text())["nodes-allowlist"])


def bootnodes(node: SimNode) -> list[str]:
    return list(tomllib.loads((node.etc / "config.toml").read_text()).get("bootnodes", []))


def expected_peers(network: SimNetwork, node: SimNode) -> set[str]:
    """The node ids ``node`` dials, by the project's topology over the member names."""
    names = select_dialled(node.role, [(n.name, n.role) for n in network.nodes], node.name)
    return {other.key.node_id for other in network.nodes if other.name in names}


def expected_allowed(network: SimNetwork, node: SimNode) -> set[str]:
    return {o.key.node_id for o in network.nodes if o is not node and peers_with(node.role, o.role)}


def node_ids(enodes: Sequence[str]) -> set[str]:
    return {url.removeprefix("enode://").split("@")[0] for url in enodes}


def converge(network: SimNetwork) -> None:
    """Every node publishes its first address and syncs; a second round lets early nodes see later ones."""
    for node in network.nodes:
        node.start()
    for _ in range(2):
        for node in network.nodes:
            assert node.daemon is not None
            report = node.daemon.run_once()
            assert report.ok, (node.name, report.problems, report.sync and report.sync.problems)
    for node in network.nodes:
        assert node_ids(node.static_nodes) == expected_peers(network, node), node.name
        assert node_ids(allowlist(node)) == expected_allowed(network, node), node.name
        assert node.daemon is not None and node.daemon.rpc is not None
        assert node.daemon.rpc.url.startswith("ws://127.0.0.1:"), node.name
        # Every peer change of both rounds went over the one connection the daemon keeps open.
        assert isinstance(node.rpc.server, WsDouble) and node.rpc.server.connections == 1, node.name
        node.rpc.reset()


def run_cli(node: SimNode, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.ddns_daemon", "--config", str(node.config_path), command, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize(
    "roles",
    [NODE_7_WRITER, NODE_7_BOOT, NODE_7_ONE_OF_SIX_BOOTS],
    ids=["node-7-writer", "node-7-boot", "node-7-one-of-six-boots"],
)
def test_a_moved_node_reaches_exactly_the_peers_that_should_see_it(tmp_path: Path, roles: list[Role]) -> None:
    with simulated_network(tmp_path, roles, tree_key=NodeKey.generate()) as network:
        converge(network)
        moved = network.nodes[7]
        old_enode = f"enode://{moved.key.node_id}@{initial_address(7)}:60606"
        new_enode = f"enode://{moved.key.node_id}@{MOVED_TO}:60606"
        assert moved.daemon is not None
        moved.daemon.close()  # the command line below is the node's daemon now
        network.move(moved, MOVED_TO)

        cycle = run_cli(moved, "once")
        assert cycle.returncode == 0, cycle.stdout + cycle.stderr
        assert f"address={MOVED_TO}" in cycle.stdout and "published=accepted" in cycle.stdout
        assert "enr=accepted" in cycle.stdout
        # The network's EIP-1459 tree, as Besu's discovery-dns-url reads it, now has node 7 at its new address.
        service = network.service
        assert isinstance(service, DdnsService)
        _, records, _ = EnrTree.resolve(service.enr_tree_link() or "", service.dns.txt)  # type: ignore[attr-defined]
        published = {record.enode_id: record for record in records}
        assert set(published) == {node.key.node_id for node in network.nodes}
        assert (published[moved.key.node_id].ip, published[moved.key.node_id].tcp) == (MOVED_TO, 60606)

        for node in network.nodes:
            if node is not moved:
                assert node.daemon is not None
                report = node.daemon.sync()
                assert report.ok, (node.name, report.problems)

        dialling = [n for n in network.nodes if moved.key.node_id in expected_peers(network, n)]
        allowing = [n for n in network.nodes if n is not moved and peers_with(n.role, moved.role)]
        for node in network.nodes:
            if node is moved:
                continue
            if node in allowing:
                assert new_enode in allowlist(node) and old_enode not in allowlist(node), node.name
                assert node.rpc.called("perm_addNodesToAllowlist") == [[new_enode]], node.name
                assert node.rpc.called("perm_removeNodesFromAllowlist") == [[old_enode]], node.name
            if node in dialling:
                assert new_enode in node.static_nodes and old_enode not in node.static_nodes, node.name
                assert node.rpc.called("admin_addPeer") == [new_enode], node.name
                assert node.rpc.called("admin_removePeer") == [old_enode], node.name
                assert (new_enode in bootnodes(node)) is (moved.role is B), node.name
            else:
                assert moved.key.node_id not in str(node.static_nodes) + str(bootnodes(node)), node.name
                assert node.rpc.called("admin_addPeer") == node.rpc.called("admin_removePeer") == [], node.name
            if node not in allowing:
                assert moved.key.node_id not in str(allowlist(node)), node.name
                assert node.rpc.calls == [], node.name
            else:
                assert isinstance(node.rpc.server, WsDouble) and node.rpc.server.connections == 1, node.name
            assert old_enode not in bootnodes(node), node.name
            assert node_ids(node.static_nodes) == expected_peers(network, node), node.name
        # The rules themselves, spelled out: who may connect to a writer or a boot, and how far dialling goes.
        expected_allowing_roles = {W: {B, W}, B: {V, B, W, OBS}}[moved.role]
        assert {n.role for n in allowing} == expected_allowing_roles
        if moved.role is W:
            assert dialling == []  # nobody keeps a static connection to a writer; writers dial boots
        else:
            boots = sum(1 for n in network.nodes if n.role is B)
            assert {n.role for n in dialling} == {V, B, W, OBS}
            assert (len(dialling) == len(network.nodes) - 1) is (boots <= MAX_BOOTS_DIALLED)


def test_a_change_besu_missed_while_down_is_applied_when_it_answers(tmp_path: Path) -> None:
    with simulated_network(tmp_path, [B, V, V]) as network:
        converge(network)
        watcher, moved = network.nodes[1], network.nodes[2]
        port = int(watcher.rpc.server.url.rsplit(":", 1)[1])
        watcher.rpc.server.__exit__(None, None, None)  # Besu stops
        network.move(moved, MOVED_TO)
        assert moved.daemon is not None and watcher.daemon is not None
        assert moved.daemon.run_once().published is not None

        down = watcher.daemon.sync()
        new_enode = f"enode://{moved.key.node_id}@{MOVED_TO}:60606"
        assert new_enode in watcher.static_nodes  # the files are right for Besu's next start
        assert down.live is not None and down.live.unreachable and not down.ok

        besu = BesuRpcDouble(allowlist=allowlist(watcher), port=port)  # Besu is back, with the rewritten files
        with besu.server:
            up = watcher.daemon.sync()
        assert up.ok
        assert besu.called("admin_addPeer") == [new_enode]
        assert len(besu.called("admin_removePeer")) == 1


def test_the_run_command_serves_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    with simulated_network(tmp_path, [B, W]) as network:
        node = network.nodes[0]
        metrics_port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "services.ddns_daemon", "--config", str(node.config_path), "run"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "LACCHAIN_DDNS_METRICS__ENABLED": "true",
                "LACCHAIN_DDNS_METRICS__ADDRESS": "127.0.0.1",
                "LACCHAIN_DDNS_METRICS__PORT": str(metrics_port),
            },
        )
        try:
            url = f"http://127.0.0.1:{metrics_port}/metrics"

            def published() -> bool:
                return "lacchain_ddns_updates_accepted_total 1.0" in httpx.get(url, timeout=1).text

            wait_until(published, "the daemon's first accepted update", timeout=30, process=process)
            text = httpx.get(url, timeout=1).text
            assert 'lacchain_ddns_public_ip_info{address="52.0.0.10"' in text
            assert "lacchain_ddns_last_successful_sync_timestamp_seconds" in text
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def test_once_exits_non_zero_when_the_function_is_unreachable(tmp_path: Path) -> None:
    with simulated_network(tmp_path, [B]) as network:
        node = network.nodes[0]
        config = node.config_path.read_text().replace(network.function_url, f"http://127.0.0.1:{free_port()}")
        node.config_path.write_text(config)
        result = run_cli(node, "once")
    assert result.returncode == 1
    assert "problem:" in result.stdout


def test_check_reports_an_invalid_config_with_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "ddns.toml"
    path.write_text('network = "n"\n[function]\nurl = "ddns.example.org"\n')
    result = subprocess.run(
        [sys.executable, "-m", "services.ddns_daemon", "--config", str(path), "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert "function.url" in result.stderr and "ip:" in result.stderr
