"""How fast the DDNS update function's core is, in process (no HTTP): prints measured figures.

* verify + policy: parsing a signed update, recovering its secp256k1 signer, and the policy decision, per update;
* updates per second through ``DdnsService.handle`` with a SQLite node table (a file) and
  - the in-process DNS (``MemoryDns``): the core's own cost,
  - a real BIND 9 over RFC 2136 (TSIG, TCP) with ``--bind``: what an on-prem function sustains;
  each also with the EIP-1459 tree enabled and every node's ENR published;
* ``GET /v1/nodes`` through ``handle``: a full 200 and a conditional GET answered 304 (every node polls it about
  once a second with ``If-None-Match``).

Run: ``python benchmarks/ddns_function.py [--nodes 100] [--updates 2000] [--bind]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lacchain.ddns.policy import MemberList, PolicySettings, decide
from lacchain.ddns.update import AddressUpdate, SignedUpdate
from lacchain.enr import Enr
from lacchain.keys import NodeKey
from services.ddns_function.core import DdnsService, DnsBackend, EnrTreeSettings, StaticKey
from services.ddns_function.dns_backends import Rfc2136Dns
from services.ddns_function.dns_memory import MemoryDns
from services.ddns_function.members import StaticMembers
from services.ddns_function.stores import SqliteNodeStore

NETWORK = "bench"


def network(nodes: int) -> tuple[list[NodeKey], MemberList]:
    keys = [NodeKey.generate() for _ in range(nodes)]
    document = {
        "network": NETWORK,
        "nodes": [{"nodeId": k.node_id, "name": f"node-{i}", "role": "boot"} for i, k in enumerate(keys)],
    }
    return keys, MemberList.from_document(document)


def updates(keys: list[NodeKey], count: int, now: int, first_sequence: int = 1, prefix: str = "8.8") -> list[bytes]:
    """``count`` signed updates cycling over the nodes, each node's sequence growing from ``first_sequence``."""
    bodies = []
    for i in range(count):
        key = keys[i % len(keys)]
        host = f"{prefix}.{(i // 250) % 250}.{i % 250 + 1}"
        update = AddressUpdate(NETWORK, key.node_id, host, 60606, i // len(keys) + first_sequence, now)
        bodies.append(update.sign(key).to_json().encode())
    return bodies


def verify_and_policy(bodies: list[bytes], members: MemberList, now: int) -> tuple[float, float]:
    settings = PolicySettings()
    start = time.perf_counter()
    verified = [SignedUpdate.from_json(body).verify() for body in bodies]
    middle = time.perf_counter()
    for update in verified:
        decide(update, None, members, now, settings)
    end = time.perf_counter()
    return (middle - start) / len(bodies), (end - middle) / len(bodies)


def run_core(
    dns: DnsBackend, members: MemberList, keys: list[NodeKey], bodies: list[bytes], db: Path, tree: bool
) -> tuple[float, list[float]]:
    tree_settings = EnrTreeSettings(f"nodes.{ZONE}", StaticKey(NodeKey.generate())) if tree else None
    service = DdnsService(
        zone=ZONE, store=SqliteNodeStore(db), dns=dns, members=StaticMembers(members), tree=tree_settings
    )
    if tree:
        # every node has an address and a published ENR first, so the tree holds all of them
        warm = updates(keys, len(keys), int(time.time()))
        for key, body in zip(keys, warm, strict=True):
            assert service.handle("POST", "/v1/update", body).status == 200
            enr = Enr.create(key, 1, ip="8.8.8.8", tcp=60606, udp=60606)
            assert service.handle("POST", "/v1/enr", json.dumps({"enr": enr.text}).encode()).status == 200
    latencies = []
    start = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        response = service.handle("POST", "/v1/update", body)
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            raise RuntimeError(f"update refused: {response.body}")
    elapsed = time.perf_counter() - start
    if tree:
        # each new ENR rebuilds, re-signs and re-publishes the tree (changed entries only)
        enr_start = time.perf_counter()
        for key in keys:
            enr = Enr.create(key, 2, ip="9.9.9.9", tcp=60606, udp=60606)
            assert service.handle("POST", "/v1/enr", json.dumps({"enr": enr.text}).encode()).status == 200
        enr_rate = len(keys) / (time.perf_counter() - enr_start)
        print(f"  ENR updates (tree of {len(keys)} rebuilt and published each): {enr_rate:,.0f}/s")
    return len(bodies) / elapsed, latencies


ZONE = "lacchain.example.org"


def node_list_polls(members: MemberList, keys: list[NodeKey], db: Path, polls: int) -> None:
    """Cost of the poll every node sends each second, with every node in the table: full answer vs 304."""
    service = DdnsService(zone=ZONE, store=SqliteNodeStore(db), dns=MemoryDns(), members=StaticMembers(members))
    for body in updates(keys, len(keys), int(time.time())):
        assert service.handle("POST", "/v1/update", body).status == 200
    full = service.handle("GET", "/v1/nodes")
    etag = full.headers["ETag"]
    for label, headers, status in (("full 200", {}, 200), ("If-None-Match -> 304", {"If-None-Match": etag}, 304)):
        start = time.perf_counter()
        for _ in range(polls):
            response = service.handle("GET", "/v1/nodes", b"", headers)
            sent = len(response.encoded()) if response.has_body else 0
            assert response.status == status
        per = (time.perf_counter() - start) / polls
        print(
            f"GET /v1/nodes, {len(keys)} nodes, {label:<21}: {per * 1e6:8.1f} us/poll in the core "
            f"({1 / per:,.0f}/s on one core), {sent} body bytes"
        )


@contextlib.contextmanager
def maybe_bind(enabled: bool) -> Iterator[object | None]:
    if not enabled:
        yield None
        return
    from tests.services.ddns_function.conftest import bind_server

    with bind_server() as server:
        yield server


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--bind", action="store_true", help="also measure against a local BIND 9 (RFC 2136)")
    args = parser.parse_args()

    now = int(time.time())
    keys, members = network(args.nodes)
    bodies = updates(keys, args.updates, now)
    print(f"network: {args.nodes} nodes; {args.updates} signed updates ({bodies[0].__len__()} bytes each)")

    per_verify, per_policy = verify_and_policy(bodies, members, now)
    print(f"parse + verify (secp256k1 recovery): {per_verify * 1e6:8.1f} us/update")
    print(f"policy decision:                     {per_policy * 1e6:8.1f} us/update")
    print(
        f"verify + policy:                     {(per_verify + per_policy) * 1e6:8.1f} us/update "
        f"({1 / (per_verify + per_policy):,.0f}/s on one core)"
    )

    with maybe_bind(args.bind) as server, tempfile.TemporaryDirectory() as tmp:
        node_list_polls(members, keys, Path(tmp) / "polls.db", 500)
        backends: list[tuple[str, object]] = [("memory DNS", None)]
        if server is not None:
            backends.append(("BIND 9 RFC 2136", server))
        for label, bind in backends:
            for tree in (False, True):
                dns: DnsBackend = (
                    MemoryDns() if bind is None else Rfc2136Dns(bind.zone, bind.host, bind.key, port=bind.port)  # type: ignore[attr-defined]
                )
                db = Path(tmp) / f"{label.replace(' ', '-')}-{tree}.db"
                count = args.updates if bind is None else min(args.updates, 1000)
                # with the tree, the warm-up gives every node sequence 1 first
                run_bodies = updates(keys, count, int(time.time()), 2, "9.9") if tree else bodies[:count]
                rate, latencies = run_core(dns, members, keys, run_bodies, db, tree)
                name = f"{label}{' + ENR tree (' + str(args.nodes) + ' records)' if tree else ''}"
                print(
                    f"core, SQLite file + {name:<40}: {rate:8,.0f} updates/s  "
                    f"(median {statistics.median(latencies) * 1e3:.2f} ms, p99 {percentile(latencies, 0.99) * 1e3:.2f} ms"
                    f", {len(latencies)} updates)"
                )


if __name__ == "__main__":
    main()
