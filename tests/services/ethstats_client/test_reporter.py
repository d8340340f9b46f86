"""The reporter against a real chain (anvil) and a stand-in dashboard: the frames it sends must have the shapes
the eth-net-intelligence-api protocol defines (as go-ethereum's reporter and the reference client send them)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from services.common.jsonrpc import JsonRpc
from services.ethstats_client.chain import ChainReader
from services.ethstats_client.client import Reporter
from services.ethstats_client.config import load_settings
from tests import standins
from tests.services.ethstats_client.dashboard import Dashboard, dashboard, wait_for
from tests.services.healthcheck.neighbours import ProxyControl

pytestmark = pytest.mark.slow

SECRET = "lacchain-stats-secret"
INFO_KEYS = {"name", "contact", "node", "net", "protocol", "api", "port", "os", "os_v", "client", "canUpdateHistory"}
BLOCK_KEYS = {
    "number",
    "hash",
    "parentHash",
    "timestamp",
    "miner",
    "gasUsed",
    "gasLimit",
    "difficulty",
    "totalDifficulty",
    "transactions",
    "transactionsRoot",
    "stateRoot",
    "uncles",
}
STATS_KEYS = {"active", "syncing", "mining", "hashrate", "peers", "gasPrice", "uptime"}


async def _report(rpc_url: str, board: Dashboard, until: Callable[[], bool], what: str, **env: str) -> None:
    """Run a reporter for ``board`` until ``until()`` holds, then stop it and wait for it to finish."""
    settings = load_settings(
        {
            "ETHSTATS_URL": board.url,
            "ETHSTATS_NODE_NAME": "member-writer-1",
            "ETHSTATS_SECRET": SECRET,
            "ETHSTATS_CONTACT": "ops@member.example",
            "ETHSTATS_RPC_URL": rpc_url,
            "ETHSTATS_POLL_SECONDS": "0.2",
            "ETHSTATS_REPORT_SECONDS": "30",
            "ETHSTATS_TIMEOUT_SECONDS": "2",
            **env,
        }
    )
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=2) as http:
        reporter = Reporter(settings, ChainReader(JsonRpc(settings.rpc_url, http)))
        task = asyncio.create_task(reporter.run(stop))
        try:
            await wait_for(until, what)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    try:
        asyncio.run(scenario())
    finally:
        # asyncio.run leaves the main thread without an event loop; code that expects one (Pulumi's mocks in
        # other test modules) would then fail, so leave a fresh one as the thread had before.
        asyncio.set_event_loop(asyncio.new_event_loop())


def test_login_and_reports_have_the_protocol_shapes(besu_like: tuple[str, ProxyControl]) -> None:
    pushed = ["primus::ping::1700000000000", {"emit": ["history", {"list": [1, 2]}]}]
    # The history request names blocks 1 and 2: let the chain seal them first.
    standins.wait_until(lambda: int(_rpc(besu_like[0], "eth_blockNumber"), 16) >= 2, "block 2", timeout=5)

    async def scenario() -> None:
        async with dashboard(SECRET, push_after_ready=pushed) as board:

            def enough() -> bool:
                numbers = [block["block"]["number"] for block in board.payloads("block")]
                return len(set(numbers)) >= 2 and bool(board.payloads("history")) and bool(board.payloads("stats"))

            await _report(besu_like[0], board, enough, "two blocks, a history reply and stats")

        frames = board.connections[0]
        # hello comes first, with the secret and the node's description.
        assert frames[0]["emit"][0] == "hello"
        hello = frames[0]["emit"][1]
        assert set(hello) == {"id", "info", "secret"}
        assert (hello["id"], hello["secret"]) == ("member-writer-1", SECRET)
        info = hello["info"]
        assert set(info) == INFO_KEYS
        assert info["name"] == "member-writer-1"
        assert info["contact"] == "ops@member.example"
        assert info["node"].startswith("anvil/")  # web3_clientVersion of the node
        assert info["net"] == "648539"
        assert info["port"] == 60606
        assert info["canUpdateHistory"] is True

        # The Primus keep-alive is answered verbatim.
        assert "primus::pong::1700000000000" in frames

        (ping,) = board.payloads("node-ping")[:1]
        assert set(ping) == {"id", "clientTime"} and isinstance(ping["clientTime"], int)
        (latency,) = board.payloads("latency")[:1]
        assert set(latency) == {"id", "latency"} and isinstance(latency["latency"], int) and latency["latency"] >= 0

        blocks = [payload["block"] for payload in board.payloads("block")]
        for block in blocks:
            assert set(block) == BLOCK_KEYS
            assert isinstance(block["number"], int) and isinstance(block["timestamp"], int)
            assert block["hash"].startswith("0x") and len(block["hash"]) == 66
            assert isinstance(block["difficulty"], str) and block["uncles"] == []
        numbers = [block["number"] for block in blocks]
        assert numbers == sorted(numbers) and numbers[-1] > numbers[0]

        pending = board.payloads("pending")[0]
        assert pending == {"id": "member-writer-1", "stats": {"pending": 0}}

        stats = board.payloads("stats")[0]
        assert set(stats) == {"id", "stats"} and set(stats["stats"]) == STATS_KEYS
        assert stats["stats"]["active"] is True
        assert stats["stats"]["peers"] == 2  # net_peerCount, as Besu answers it
        assert stats["stats"]["syncing"] is False
        assert stats["stats"]["uptime"] == 100

        history = board.payloads("history")[0]
        assert [block["number"] for block in history["history"]] == [1, 2]
        assert all(set(block) == BLOCK_KEYS for block in history["history"])

    _run(scenario)


def _send_transaction(rpc_url: str) -> None:
    accounts = _rpc(rpc_url, "eth_accounts")
    _rpc(rpc_url, "eth_sendTransaction", {"from": accounts[0], "to": accounts[1], "value": "0x1"})


def _rpc(url: str, method: str, *params: Any) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["result"]


def test_pending_counts_the_node_transaction_pool(idle_chain: str) -> None:
    _send_transaction(idle_chain)  # anvil mines nothing: it stays pending (txpool_status)

    async def scenario() -> None:
        async with dashboard(SECRET) as board:
            await _report(idle_chain, board, lambda: bool(board.payloads("stats")), "stats")
        assert board.payloads("pending")[0]["stats"] == {"pending": 1}
        assert board.payloads("stats")[0]["stats"]["peers"] == 0  # anvil has no net_peerCount

    _run(scenario)


def test_pending_uses_besu_txpool_statistics(besu_like: tuple[str, ProxyControl]) -> None:
    besu_like[1].overrides["txpool_besuStatistics"] = {"maxSize": 4096, "localCount": 1, "remoteCount": 2}

    async def scenario() -> None:
        async with dashboard(SECRET) as board:
            await _report(besu_like[0], board, lambda: bool(board.payloads("pending")), "pending")
        assert board.payloads("pending")[0]["stats"] == {"pending": 3}

    _run(scenario)


def test_refused_logins_are_retried_with_backoff(besu_like: tuple[str, ProxyControl]) -> None:
    async def scenario() -> None:
        async with dashboard(SECRET, refuse_first=2) as board:
            await _report(
                besu_like[0],
                board,
                lambda: len(board.connections) >= 3 and bool(board.payloads("stats")),
                "a third connection that logs in",
                ETHSTATS_MAX_BACKOFF_SECONDS="0.2",
            )
        assert len(board.connections) == 3
        # Every attempt logs in afresh, and only the accepted one reports.
        assert all(connection[0]["emit"][0] == "hello" for connection in board.connections)
        assert all(len(connection) == 1 for connection in board.connections[:2])

    _run(scenario)


def test_wrong_secret_never_reports(besu_like: tuple[str, ProxyControl]) -> None:
    async def scenario() -> None:
        async with dashboard("another-secret") as board:
            await _report(
                besu_like[0], board, lambda: len(board.connections) >= 2, "a retry", ETHSTATS_MAX_BACKOFF_SECONDS="0.2"
            )
        assert all([frame["emit"][0] for frame in connection] == ["hello"] for connection in board.connections)

    _run(scenario)


def test_a_dead_node_is_reported_inactive() -> None:
    dead = f"http://127.0.0.1:{standins.free_port()}"

    async def scenario() -> None:
        async with dashboard(SECRET) as board:
            await _report(dead, board, lambda: bool(board.payloads("stats")), "stats")
        hello = board.payloads("hello")[0]
        assert hello["info"]["node"].startswith("unknown")
        stats = board.payloads("stats")[0]["stats"]
        assert stats["active"] is False and stats["peers"] == 0
        assert stats["uptime"] == 0
        assert board.payloads("block") == []

    _run(scenario)
