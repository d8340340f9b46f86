"""Peer changes applied to a running Besu over JSON-RPC (a recording double that answers as Besu does), over the
loopback WebSocket endpoint (the default) and over HTTP (an operator's option)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from lacchain.enode import Enode
from lacchain.keys import NodeKey
from services.ddns_daemon.besu_rpc import BesuRpc, HttpTransport, RpcError, RpcUnreachable, WebSocketTransport, connect
from services.ddns_daemon.live import apply_live
from services.ddns_daemon.metrics import DaemonMetrics
from tests.services.ddns_daemon.doubles import BesuRpcDouble, WsDouble
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


def ws(url: str, token: str | None = None) -> BesuRpc:
    return BesuRpc(WebSocketTransport(url, timeout=2.0, auth_token=token))


def test_a_moved_peer_is_allowed_then_dialled_and_the_old_address_dropped_then_disallowed() -> None:
    besu = BesuRpcDouble(allowlist=[OLD, KEPT], peers=[OLD, KEPT])
    metrics = DaemonMetrics()
    assert besu.server.url.startswith("ws://127.0.0.1:")
    with besu.server:
        rpc = ws(besu.server.url)
        result = apply_live(
            rpc,
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
    # The four calls went over one kept connection.
    assert isinstance(rpc.transport, WebSocketTransport) and rpc.transport.connections_opened == 1
    assert isinstance(besu.server, WsDouble) and besu.server.connections == 1
    rpc.close()


def test_over_http_without_a_local_allowlist_only_admin_methods_are_called(http: httpx.Client) -> None:
    besu = BesuRpcDouble(allowlist=None, transport="http")
    with besu.server:
        rpc = connect(besu.server.url, timeout=2.0, http_client=http)
        assert isinstance(rpc.transport, HttpTransport)
        result = apply_live(
            rpc,
            DaemonMetrics(),
            applied_peers=frozenset({OLD}),
            wanted_peers=frozenset({NEW}),
            applied_allowlist=None,
            wanted_allowlist=None,
        )
    assert result.complete and result.allowlist is None
    assert [m for m, _ in besu.calls] == ["admin_addPeer", "admin_removePeer"]


def test_entries_besu_already_has_and_fixed_nodes_count_as_done() -> None:
    besu = BesuRpcDouble(allowlist=[NEW, OLD])
    besu.fixed.add(OLD)  # Besu started with it in static-nodes.json: it refuses to remove it live
    with besu.server:
        result = apply_live(
            ws(besu.server.url),
            DaemonMetrics(),
            applied_peers=frozenset({OLD}),
            wanted_peers=frozenset({NEW}),
            applied_allowlist=frozenset({OLD}),
            wanted_allowlist=frozenset({NEW}),
        )
    assert result.complete
    assert result.allowlist == frozenset({NEW})


@pytest.mark.parametrize("scheme", ["ws", "http"])
def test_an_unreachable_besu_leaves_the_change_pending(http: httpx.Client, scheme: str) -> None:
    result = apply_live(
        connect(f"{scheme}://127.0.0.1:{free_port()}", timeout=2.0, http_client=http),
        DaemonMetrics(),
        applied_peers=frozenset({OLD}),
        wanted_peers=frozenset({NEW}),
        applied_allowlist=frozenset({OLD}),
        wanted_allowlist=frozenset({NEW}),
    )
    assert result.unreachable and not result.complete
    assert result.peers == frozenset({OLD}) and result.allowlist == frozenset({OLD})


def test_a_disabled_api_is_reported_with_the_fix_and_other_changes_go_on() -> None:
    besu = BesuRpcDouble(allowlist=None)
    besu.disabled_methods.add("admin_removePeer")
    metrics = DaemonMetrics()
    with besu.server:
        result = apply_live(
            ws(besu.server.url),
            metrics,
            applied_peers=frozenset({OLD}),
            wanted_peers=frozenset({NEW}),
            applied_allowlist=None,
            wanted_allowlist=None,
        )
    assert result.peers == frozenset({OLD, NEW})  # the add worked; the removal stays pending
    assert len(result.errors) == 1
    assert "admin_removePeer" in result.errors[0] and "ADMIN API in Besu's rpc-ws-api" in result.errors[0]
    assert metrics.registry.get_sample_value("lacchain_ddns_rpc_errors_total", {"method": "admin_removePeer"}) == 1


# ------------------------------------------------------------------------------------- the WebSocket transport


def test_a_restarted_besu_is_reached_again_on_a_new_connection() -> None:
    first = BesuRpcDouble(allowlist=None)
    port = int(first.server.url.rsplit(":", 1)[1])
    with first.server:
        rpc = ws(first.server.url)
        assert rpc.add_peer(OLD)
    # Besu restarted on the same port: the kept connection is dead; the call is sent again on a new one.
    second = BesuRpcDouble(allowlist=None, port=port)
    with second.server:
        assert rpc.add_peer(NEW)
    assert second.called("admin_addPeer") == [NEW]
    assert isinstance(rpc.transport, WebSocketTransport) and rpc.transport.connections_opened == 2
    with pytest.raises(RpcUnreachable):  # and down again: unreachable, not an error of the call
        rpc.add_peer(KEPT)
    rpc.close()


def test_the_token_goes_in_the_upgrade_request_and_a_missing_one_is_explained() -> None:
    besu = BesuRpcDouble(allowlist=None, required_token="jwt-abc")
    with besu.server:
        assert ws(besu.server.url, "jwt-abc").add_peer(NEW)
        with pytest.raises(RpcError, match=r"besu\.auth_token_file"):
            ws(besu.server.url).add_peer(NEW)
    assert isinstance(besu.server, WsDouble)
    assert besu.server.handshakes[0]["Authorization"] == "Bearer jwt-abc"
    assert "Authorization" not in besu.server.handshakes[1]
    assert besu.called("admin_addPeer") == [NEW]  # the refused connection never reached a method


def test_notifications_before_the_answer_are_skipped() -> None:
    besu = BesuRpcDouble(allowlist=None)
    besu.notify_before_answer = True
    with besu.server:
        rpc = ws(besu.server.url)
        assert rpc.add_peer(NEW) is True
        assert rpc.remove_peer(NEW) is True  # the second answer is its own, not the first call's
        assert rpc.remove_peer(NEW) is False


def test_a_silent_besu_is_unreachable_after_the_timeout_and_the_connection_dropped() -> None:
    received: list[str] = []
    answer = threading.Event()

    def handler(text: str) -> list[str]:
        received.append(text)
        if not answer.is_set():
            return []  # never answers the first call
        request = json.loads(text)
        return [json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": True})]

    server = WsDouble(handler)
    with server:
        rpc = BesuRpc(WebSocketTransport(server.url, timeout=0.3))
        started = time.monotonic()
        with pytest.raises(RpcUnreachable, match="within"):
            rpc.add_peer(NEW)
        assert 0.25 < time.monotonic() - started < 2.0
        answer.set()
        assert rpc.add_peer(NEW) is True
    assert server.connections == 2 and len(received) == 2
