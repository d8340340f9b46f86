"""Applying a peer change to the running Besu: the difference between what was last applied and what is wanted.

Order matters: a new enode is first allowed (local allowlist), then dialled (``admin_addPeer``, which Besu refuses
for a node that is not permitted); an old one is first disconnected (``admin_removePeer``), then disallowed.
What succeeded is recorded one enode at a time, so after Besu was unreachable or refused a call, the next cycle
retries exactly what is still missing. Besu is never restarted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from services.ddns_daemon.besu_rpc import AllowlistOutcome, BesuRpc, RpcError, RpcUnreachable
from services.ddns_daemon.metrics import DaemonMetrics

log = logging.getLogger(__name__)


@dataclass
class LiveResult:
    peers: frozenset[str]
    """The peer set now applied to Besu (what succeeded)."""
    allowlist: frozenset[str] | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unreachable: bool = False

    @property
    def complete(self) -> bool:
        return not self.errors


def apply_live(
    rpc: BesuRpc,
    metrics: DaemonMetrics,
    *,
    applied_peers: frozenset[str],
    wanted_peers: frozenset[str],
    applied_allowlist: frozenset[str] | None,
    wanted_allowlist: frozenset[str] | None,
) -> LiveResult:
    """Bring Besu from the applied sets to the wanted ones. ``*_allowlist`` is None when no local allowlist is used."""
    result = LiveResult(peers=applied_peers, allowlist=applied_allowlist)
    peers = set(applied_peers)
    allow = set(applied_allowlist) if applied_allowlist is not None else None
    try:
        if allow is not None and wanted_allowlist is not None:
            for enode in sorted(wanted_allowlist - allow):
                if _allowlist_step(rpc, metrics, result, enode, add=True):
                    allow.add(enode)
        for enode in sorted(wanted_peers - peers):
            if _peer_step(rpc, metrics, result, enode, add=True):
                peers.add(enode)
                result.added.append(enode)
        for enode in sorted(peers - wanted_peers):
            if _peer_step(rpc, metrics, result, enode, add=False):
                peers.discard(enode)
                result.removed.append(enode)
        if allow is not None and wanted_allowlist is not None:
            for enode in sorted(allow - wanted_allowlist):
                if _allowlist_step(rpc, metrics, result, enode, add=False):
                    allow.discard(enode)
    except RpcUnreachable as exc:
        # Besu is down or restarting: it reads the rewritten files when it starts; retry the rest next cycle.
        result.errors.append(str(exc))
        result.unreachable = True
    result.peers = frozenset(peers)
    result.allowlist = frozenset(allow) if allow is not None else None
    return result


def _peer_step(rpc: BesuRpc, metrics: DaemonMetrics, result: LiveResult, enode: str, *, add: bool) -> bool:
    try:
        if add:
            rpc.add_peer(enode)
            metrics.peers_added.inc()
        else:
            rpc.remove_peer(enode)
            metrics.peers_removed.inc()
        return True
    except RpcError as exc:
        _record(metrics, result, exc)
        return False


def _allowlist_step(rpc: BesuRpc, metrics: DaemonMetrics, result: LiveResult, enode: str, *, add: bool) -> bool:
    try:
        outcome = rpc.allowlist_add(enode) if add else rpc.allowlist_remove(enode)
    except RpcError as exc:
        _record(metrics, result, exc)
        return False
    if outcome is AllowlistOutcome.FIXED_NODE:
        log.warning(
            "Besu keeps %s allowed until its next restart: it started with it as a bootnode or static node, and "
            "Besu refuses to remove those live (the permissions file no longer lists it)",
            enode,
        )
    return True


def _record(metrics: DaemonMetrics, result: LiveResult, error: RpcError) -> None:
    metrics.rpc_errors.labels(error.method).inc()
    result.errors.append(f"{error}{'; ' + error.hint if error.hint else ''}")
