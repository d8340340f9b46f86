"""Peer changes applied to a running Besu over JSON-RPC (a recording double that answers as Besu does)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lacchain.enode import Enode
from lacchain.keys import NodeKey
from services.ddns_daemon.besu_rpc import BesuRpc
from services.ddns_daemon.live import apply_live
from services.ddns_daemon.metrics import DaemonMetrics
from tests.services.ddns_daemon.doubles import BesuRpcDouble
from tests.standins import free_port

pytestmark = pytest.mark.slow

KEYS = [NodeKey.generate() for _ in range(3)]
OLD = Enode.of(KEYS[0].node_id, "52.0.0.1", 60606).url
NEW = Enode.of(KEYS[0].node_id, "52.9.9.9", 60606).url
KEPT = Enode.of(KEYS[1].node_id, "52.0.0.2", 60606).url


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        yield client


def test_a_moved_peer_is_allowed_then_dialled_and_the_old_address_dropped_then_disallowed(http: httpx.Client) -> None:
    besu = BesuRpcDouble(allowlist=[OLD, KEPT], peers=[OLD, KEPT])
    metrics = DaemonMetrics()
    with besu.server:
        result = apply_live(
            BesuRpc(besu.server.url, http),
            metrics,
            applied_peers=frozenset({OLD, KEPT}),
            wanted_peers=frozenset({NEW, KEPT}),
            applied_allowlist=frozenset({OLD, KEPT}),
            wanted_allowlist=frozenset({NEW, KEPT}),
        )
    assert result.complete
    assert [(m, p) for m, p in besu.calls] == [
        ("perm_addNodesToAllowlist", [[NEW]]),
        ("admin_addPeer", [NEW]),
        ("admin_removePeer", [OLD]),
        ("perm_removeNodesFromAllowlist", [[OLD]]),
    ]
    assert besu.allowlist == [KEPT, NEW] and besu.peers == {NEW, KEPT}
    assert result.peers == frozenset({NEW, KEPT}) and result.allowlist == frozenset({NEW, KEPT})
    assert metrics.registry.get_sample_value("lacchain_ddns_peers_added_total") == 1
    assert metrics.registry.get_sample_value("lacchain_ddns_peers_removed_total") == 1


def test_without_a_local_allowlist_only_admin_methods_are_called(http: httpx.Client) -> None:
    besu = BesuRpcDouble(allowlist=None)
    with besu.server:
        result = apply_live(
            BesuRpc(besu.server.url, http),
            DaemonMetrics(),
            applied_peers=frozenset({OLD}),
            wanted_peers=frozenset({NEW}),
            applied_allowlist=None,
            wanted_allowlist=None,
        )
    assert result.complete and result.allowlist is None
    assert [m for m, _ in besu.calls] == ["admin_addPeer", "admin_removePeer"]


def test_entries_besu_already_has_and_fixed_nodes_count_as_done(http: httpx.Client) -> None:
    besu = BesuRpcDouble(allowlist=[NEW, OLD])
    besu.fixed.add(OLD)  # Besu started with it in static-nodes.json: it refuses to remove it live
    with besu.server:
        result = apply_live(
            BesuRpc(besu.server.url, http),
            DaemonMetrics(),
            applied_peers=frozenset({OLD}),
            wanted_peers=frozenset({NEW}),
            applied_allowlist=frozenset({OLD}),
            wanted_allowlist=frozenset({NEW}),
        )
    assert result.complete
    assert result.allowlist == frozenset({NEW})


def test_an_unreachable_besu_leaves_the_change_pending(http: httpx.Client) -> None:
    result = apply_live(
        BesuRpc(f"http://127.0.0.1:{free_port()}", http),
        DaemonMetrics(),
        applied_peers=frozenset({OLD}),
        wanted_peers=frozenset({NEW}),
        applied_allowlist=frozenset({OLD}),
        wanted_allowlist=frozenset({NEW}),
    )
    assert result.unreachable and not result.complete
    assert result.peers == frozenset({OLD}) and result.allowlist == frozenset({OLD})


def test_a_disabled_api_is_reported_with_the_fix_and_other_changes_go_on(http: httpx.Client) -> None:
    besu = BesuRpcDouble(allowlist=None)
    besu.disabled_methods.add("admin_removePeer")
    metrics = DaemonMetrics()
    with besu.server:
        result = apply_live(
            BesuRpc(besu.server.url, http),
            metrics,
            applied_peers=frozenset({OLD}),
            wanted_peers=frozenset({NEW}),
            applied_allowlist=None,
            wanted_allowlist=None,
        )
    assert result.peers == frozenset({OLD, NEW})  # the add worked; the removal stays pending
    assert len(result.errors) == 1
    assert "admin_removePeer" in result.errors[0] and "ADMIN API in Besu's rpc-http-api" in result.errors[0]
    assert metrics.registry.get_sample_value("lacchain_ddns_rpc_errors_total", {"method": "admin_removePeer"}) == 1
