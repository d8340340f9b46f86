"""How long a new node address takes to reach every peer, with the daemon's default intervals: prints figures.

A simulated network on loopback (``tests/services/ddns_daemon/simnet.py``): N nodes, each with its own node key,
config directory and Besu JSON-RPC double, each daemon running its normal loop (``Daemon.run``) in a thread, and
the real DDNS function (its on-prem HTTP server, SQLite table). In every repetition one node gets a new address
at its echo services and its daemon runs its address check, as it does right after a restart (a stopped and
started VM, a rescheduled pod: the usual reasons for a new address). Measured from that instant:

* per peer: until the peer's daemon applied the new enode to its Besu (over the loopback WebSocket): the
  ``admin_addPeer`` for a peer that dials the node (``lacchain.topology.select_dialled``), the
  ``perm_addNodesToAllowlist`` for a peer that only allows it (``peers_with``); its files are rewritten just
  before that call;
* all peers: until the last peer that should see the node (by role) did;
* the function's load: ``GET /v1/nodes`` per second, and how many were full 200s and how many 304s (every daemon
  polls once a second with ``If-None-Match``).

An address that changes under a running daemon is noticed at its next check instead, which adds up to
``ip.check_interval_seconds`` (default 30 s) in front of these figures.

Run: ``python benchmarks/ddns.py [--nodes 50] [--repetitions 20]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lacchain.stack_config import Role
from lacchain.topology import peers_with, select_dialled
from services.ddns_daemon.config import SyncSettings
from tests.services.ddns_daemon.simnet import SimNetwork, SimNode, simulated_network


def roles_for(count: int) -> list[Role]:
    """Roughly LACChain's mix: a few validators and boots, many writers and observers."""
    validators, boots = max(1, count // 6), max(1, count // 12)
    writers = (count - validators - boots) // 2
    observers = count - validators - boots - writers
    return [Role.VALIDATOR] * validators + [Role.BOOT] * boots + [Role.WRITER] * writers + [Role.OBSERVER] * observers


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def start_loops(network: SimNetwork, skip: SimNode) -> tuple[threading.Event, list[threading.Thread]]:
    stop = threading.Event()
    threads = []
    for node in network.nodes:
        if node is skip or node.daemon is None:
            continue
        thread = threading.Thread(target=node.daemon.run, args=(stop,), name=node.name, daemon=True)
        thread.start()
        threads.append(thread)
    return stop, threads


def measure(network: SimNetwork, moved: SimNode, address: str, timeout: float = 30.0) -> tuple[float, list[float]]:
    """Seconds until every peer that should see ``moved`` applied its new enode, and each peer's time."""
    roster = [(n.name, n.role) for n in network.nodes]
    watchers = [n for n in network.nodes if n is not moved and peers_with(n.role, moved.role)]
    new_enode = f"enode://{moved.key.node_id}@{address}:60606"
    dials = {n.name: moved.name in select_dialled(n.role, roster, n.name) for n in watchers}
    network.move(moved, address)
    assert moved.daemon is not None
    started = time.monotonic()
    report = moved.daemon.check_address()
    if report.published is None or not report.published.accepted:
        raise RuntimeError(f"the moved node did not publish: {report.problems}")
    deadline = started + timeout
    while time.monotonic() < deadline:
        times = [
            n.rpc.first_call("admin_addPeer", new_enode)
            if dials[n.name]
            else n.rpc.first_call("perm_addNodesToAllowlist", [new_enode])
            for n in watchers
        ]
        if all(t is not None for t in times):
            per_peer = [t - started for t in times if t is not None]
            return max(per_peer), per_peer
        time.sleep(0.005)
    raise TimeoutError(f"not every peer saw {moved.name} at {address} within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--quiet-seconds", type=float, default=10.0, help="steady-state phase without changes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    roles = roles_for(args.nodes)
    interval = SyncSettings().interval_seconds
    print(f"{args.nodes} nodes {dict(Counter(r.value for r in roles))}, sync interval {interval} s (default)")

    with tempfile.TemporaryDirectory() as directory, simulated_network(Path(directory), roles) as network:
        polls = Counter[str]()
        handle = network.service.handle  # type: ignore[attr-defined]

        def counting(method: str, path: str, body: bytes = b"", headers: object = None) -> object:
            response = handle(method, path, body, headers)
            polls[f"{method} {path.split('?')[0]} {response.status}"] += 1
            return response

        network.service.handle = counting  # type: ignore[attr-defined]
        for node in network.nodes:
            node.start()
        for _ in range(2):  # first addresses published, then everyone synced to the full table
            for node in network.nodes:
                assert node.daemon is not None
                node.daemon.run_once()
        table_bytes = len(network.service.get_nodes().encoded())  # type: ignore[attr-defined]

        movers = [n for n in network.nodes if n.role in (Role.BOOT, Role.WRITER)]
        all_peers: list[float] = []
        per_peer: list[float] = []
        polls.clear()
        loops_started = time.monotonic()
        for repetition in range(args.repetitions):
            moved = movers[repetition % len(movers)]
            stop, threads = start_loops(network, skip=moved)
            time.sleep(1.5 * interval)  # let the loops settle into their own phases
            worst, each = measure(network, moved, f"52.{100 + repetition // 250}.{repetition % 250}.{moved.index}")
            all_peers.append(worst)
            per_peer.extend(each)
            stop.set()
            for thread in threads:
                thread.join()
            print(f"  rep {repetition + 1:2d}: {moved.name} ({moved.role.value}) -> {len(each)} peers in {worst:.3f} s")
        elapsed = time.monotonic() - loops_started

        # Steady state: the same loops while no address changes, as most of a network's life is.
        quiet = Counter(polls)
        stop, threads = start_loops(network, skip=network.nodes[-1])
        quiet_started = time.monotonic()
        time.sleep(args.quiet_seconds)
        stop.set()
        for thread in threads:
            thread.join()
        quiet_elapsed = time.monotonic() - quiet_started
        quiet = polls - quiet

    print()
    print(f"all peers updated   p50 {percentile(all_peers, 0.5):.3f} s   p99 {percentile(all_peers, 0.99):.3f} s   "
          f"max {max(all_peers):.3f} s   ({len(all_peers)} repetitions)")  # fmt: skip
    print(f"per peer            p50 {percentile(per_peer, 0.5):.3f} s   p99 {percentile(per_peer, 0.99):.3f} s   "
          f"mean {statistics.mean(per_peer):.3f} s   ({len(per_peer)} peer updates)")  # fmt: skip
    full, not_modified = polls["GET /v1/nodes 200"], polls["GET /v1/nodes 304"]
    gets = full + not_modified
    print(f"function load       {gets / elapsed:.1f} GET /v1/nodes per second for {args.nodes - 1} polling nodes: "
          f"{full / elapsed:.2f}/s full 200 ({table_bytes} bytes each), {not_modified / elapsed:.1f}/s 304 "
          f"without a body ({100 * not_modified / max(1, gets):.1f} % of polls)")  # fmt: skip
    print(f"bytes served        {full * table_bytes / elapsed / 1024:.1f} KiB/s of table bodies "
          f"(every poll a full 200 would be {gets * table_bytes / elapsed / 1024:.1f} KiB/s)")  # fmt: skip
    q_full, q_304 = quiet["GET /v1/nodes 200"], quiet["GET /v1/nodes 304"]
    print(f"steady state        {(q_full + q_304) / quiet_elapsed:.1f} GET /v1/nodes per second over "
          f"{quiet_elapsed:.0f} s without changes: {q_full} full 200, {q_304} 304 "
          f"({q_full * table_bytes / quiet_elapsed / 1024:.2f} KiB/s of table bodies)")  # fmt: skip


if __name__ == "__main__":
    main()
