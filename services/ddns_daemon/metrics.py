"""Prometheus metrics of the daemon, on a registry of its own (several daemons can share a process in tests and
benchmarks) and served on a configurable address and port.

Label values come from fixed sets (refusal reasons by HTTP status, source names from the config, JSON-RPC method
names), never from data a remote party controls, so the series count stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Info
from prometheus_client.exposition import start_http_server

PREFIX = "lacchain_ddns"

REFUSAL_REASONS = {
    400: "malformed",
    401: "bad_signature",
    403: "not_in_network",
    409: "stale_sequence",
    413: "too_large",
    422: "bad_address",
}


def refusal_reason(status: int) -> str:
    """A bounded label for a refusal status of the update function."""
    return REFUSAL_REASONS.get(status, f"http_{status // 100}xx")


class DaemonMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.public_ip = Info(f"{PREFIX}_public_ip", "The public address the sources last agreed on", registry=r)
        self.source_failures = Counter(
            f"{PREFIX}_source_failures", "Address sources that failed, timed out or gave a refused address",
            ["source"], registry=r,
        )  # fmt: skip
        self.source_disagreements = Counter(
            f"{PREFIX}_source_disagreements", "Detections where the answering sources named different addresses",
            registry=r,
        )  # fmt: skip
        self.no_quorum = Counter(f"{PREFIX}_no_quorum", "Detections without a quorum of agreeing sources", registry=r)
        self.updates_sent = Counter(f"{PREFIX}_updates_sent", "Signed updates posted (each sequence once)", registry=r)
        self.update_retries = Counter(
            f"{PREFIX}_update_retries", "Update posts retried after 5xx or timeouts", registry=r
        )
        self.updates_accepted = Counter(f"{PREFIX}_updates_accepted", "Updates the function accepted", registry=r)
        self.updates_refused = Counter(
            f"{PREFIX}_updates_refused", "Updates the function refused, by reason", ["reason"], registry=r
        )
        self.updates_failed = Counter(
            f"{PREFIX}_updates_failed", "Updates given up after every retry (function unreachable or 5xx)", registry=r
        )
        self.enr_sent = Counter(f"{PREFIX}_enr_sent", "Signed ENR records posted (each seq once)", registry=r)
        self.enr_accepted = Counter(
            f"{PREFIX}_enr_accepted", "ENR records the function accepted (or already held)", registry=r
        )
        self.enr_refused = Counter(
            f"{PREFIX}_enr_refused", "ENR records the function refused, by reason", ["reason"], registry=r
        )
        self.enr_failed = Counter(
            f"{PREFIX}_enr_failed", "ENR records given up after every retry (function unreachable or 5xx)", registry=r
        )
        self.table_fetch_failures = Counter(f"{PREFIX}_table_fetch_failures", "Failed node table downloads", registry=r)
        self.last_sync = Gauge(
            f"{PREFIX}_last_successful_sync_timestamp_seconds", "Unix time of the last complete table sync", registry=r
        )
        self.desired_peers = Gauge(f"{PREFIX}_desired_peers", "Peers this node should have by its role", registry=r)
        self.files_rewritten = Counter(
            f"{PREFIX}_files_rewritten", "Peer files rewritten because their content changed", ["file"], registry=r
        )
        self.peers_added = Counter(
            f"{PREFIX}_peers_added", "Peers added to the running Besu (admin_addPeer)", registry=r
        )
        self.peers_removed = Counter(
            f"{PREFIX}_peers_removed", "Peers removed from the running Besu (admin_removePeer)", registry=r
        )
        self.rpc_errors = Counter(f"{PREFIX}_rpc_errors", "Besu JSON-RPC calls that failed", ["method"], registry=r)


@dataclass
class MetricsServer:
    """The running HTTP endpoint; ``close`` stops it."""

    address: str
    port: int
    _server: object

    def close(self) -> None:
        shutdown = getattr(self._server, "shutdown", None)
        if shutdown is not None:
            shutdown()
        close = getattr(self._server, "server_close", None)
        if close is not None:
            close()


def serve(metrics: DaemonMetrics, address: str, port: int) -> MetricsServer:
    """Serve ``/metrics`` on ``address:port`` from a daemon thread."""
    server, _thread = start_http_server(port, addr=address, registry=metrics.registry)
    return MetricsServer(address, int(server.server_port), server)
