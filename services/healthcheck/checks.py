"""The individual checks. Each returns a ``CheckResult`` and never raises: a failing dependency is a result.

Every check reads only standard JSON-RPC (``web3_clientVersion``, ``net_peerCount``, ``eth_syncing``,
``eth_getBlockByNumber``) that Besu serves with the ETH, NET and WEB3 APIs, or the transaction manager's
``/upcheck`` path (Orion and Tessera both answer ``I'm up!`` there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.jsonrpc import JsonRpc, RpcError, quantity

TM_UP_ANSWER = "I'm up!"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: ``ok``, a sentence for humans, and the measured values for machines."""

    ok: bool
    detail: str
    values: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, **self.values}


def _failed(exc: Exception) -> CheckResult:
    return CheckResult(False, str(exc))


async def check_rpc(rpc: JsonRpc) -> CheckResult:
    """Besu's JSON-RPC answers (the liveness signal: no peers or sync state involved)."""
    try:
        version = await rpc.call("web3_clientVersion")
    except RpcError as exc:
        return _failed(exc)
    return CheckResult(True, f"JSON-RPC answers at {rpc.url}", {"client": version})


async def check_peers(rpc: JsonRpc, minimum: int) -> CheckResult:
    """At least ``minimum`` connected peers."""
    try:
        peers = quantity(await rpc.call("net_peerCount"), "net_peerCount")
    except RpcError as exc:
        return _failed(exc)
    ok = peers >= minimum
    detail = f"{peers} peers" + ("" if ok else f", fewer than the {minimum} required")
    return CheckResult(ok, detail, {"peers": peers, "minimum": minimum})


async def check_sync(rpc: JsonRpc, max_blocks_behind: int) -> CheckResult:
    """Not syncing, or syncing but within ``max_blocks_behind`` of the highest block peers announce."""
    try:
        status = await rpc.call("eth_syncing")
        if status is False:
            return CheckResult(True, "in sync", {"syncing": False, "maxBlocksBehind": max_blocks_behind})
        if not isinstance(status, dict):
            raise RpcError(f"eth_syncing: unexpected answer {status!r:.100}")
        current = quantity(status.get("currentBlock"), "eth_syncing.currentBlock")
        highest = quantity(status.get("highestBlock"), "eth_syncing.highestBlock")
    except RpcError as exc:
        return _failed(exc)
    behind = max(0, highest - current)
    ok = behind <= max_blocks_behind
    detail = f"syncing, {behind} blocks behind" + ("" if ok else f" (more than {max_blocks_behind})")
    values = {
        "syncing": True,
        "currentBlock": current,
        "highestBlock": highest,
        "blocksBehind": behind,
        "maxBlocksBehind": max_blocks_behind,
    }
    return CheckResult(ok, detail, values)


async def check_block_age(rpc: JsonRpc, max_age_seconds: float, now: Callable[[], float] = time.time) -> CheckResult:
    """The head block is younger than ``max_age_seconds``: blocks are still being produced and imported."""
    try:
        block = await rpc.call("eth_getBlockByNumber", "latest", False)
        if not isinstance(block, dict):
            raise RpcError(f"eth_getBlockByNumber: unexpected answer {block!r:.100}")
        number = quantity(block.get("number"), "latest block number")
        timestamp = quantity(block.get("timestamp"), "latest block timestamp")
    except RpcError as exc:
        return _failed(exc)
    # A head from the future (clock skew between sealer and us) counts as fresh.
    age = max(0.0, now() - timestamp)
    ok = age <= max_age_seconds
    detail = f"head #{number} is {age:.1f} s old" + ("" if ok else f" (more than {max_age_seconds:g} s)")
    return CheckResult(ok, detail, {"block": number, "ageSeconds": round(age, 3), "maxAgeSeconds": max_age_seconds})


async def check_tm(client: httpx.AsyncClient, upcheck_url: str) -> CheckResult:
    """The transaction manager's ``/upcheck`` answers 200 ``I'm up!``."""
    try:
        response = await client.get(upcheck_url)
    except httpx.HTTPError as exc:
        return CheckResult(False, f"{type(exc).__name__} reaching {upcheck_url}: {exc}")
    body = response.text.strip()
    ok = response.status_code == 200 and body == TM_UP_ANSWER
    detail = "transaction manager is up" if ok else f"HTTP {response.status_code} {body[:80]!r} from {upcheck_url}"
    return CheckResult(ok, detail, {"url": upcheck_url})
