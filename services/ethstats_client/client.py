"""The reporting loop: connect, log in, report, and reconnect with backoff when anything breaks.

Two independent failures are handled differently. When the *dashboard* is unreachable or drops us, the whole
session is retried after an exponential backoff with full jitter (capped), so a dashboard restart is not met by
every node of the network reconnecting in the same second. When the *node* stops answering JSON-RPC, the session
stays up and reports the node inactive, because "this node is down" is exactly what the dashboard is for.

A session follows go-ethereum's reporter: after login, a full report (latency, head block, pending count,
stats); then the head is polled and every new block is reported with the pending count, blocks skipped between
two polls are sent as history, and the full report is repeated every ``report_seconds``. A pong that does not
arrive within the timeout ends the session, as a silent dashboard connection is a dead one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from services.common.jsonrpc import RpcError
from services.ethstats_client import protocol
from services.ethstats_client.chain import ChainReader, inactive_stats
from services.ethstats_client.config import Settings
from services.ethstats_client.protocol import NodeInfo

log = logging.getLogger("ethstats")

HISTORY_BLOCKS = 50
"""Blocks sent for a history request without a list (go-ethereum's ``historyUpdateRange``)."""
MISSED_BLOCKS = 12
"""At most this many blocks skipped between two polls are back-filled as history."""


class LoginRefused(Exception):
    """The dashboard did not answer ``hello`` with ``ready`` (wrong secret, or not an ethstats server)."""


class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n)) seconds."""

    def __init__(self, base: float = 1.0, cap: float = 60.0, rng: Callable[[], float] = random.random) -> None:
        self._base = base
        self._cap = cap
        self._rng = rng
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self._cap, self._base * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        return ceiling * self._rng()

    def reset(self) -> None:
        self._attempt = 0


class Uptime:
    """Percentage of polls the node answered, as the reference client computes it."""

    def __init__(self) -> None:
        self._tries = 0
        self._down = 0

    def record(self, answered: bool) -> None:
        self._tries += 1
        self._down += 0 if answered else 1

    @property
    def percent(self) -> int:
        return 100 if self._tries == 0 else round(100 * (self._tries - self._down) / self._tries)


class Reporter:
    """One node's reporter. ``run`` returns when ``stop`` is set."""

    def __init__(self, settings: Settings, chain: ChainReader) -> None:
        self.settings = settings
        self.chain = chain
        self.node_id = settings.node_name
        self.uptime = Uptime()

    async def node_info(self) -> NodeInfo:
        """The node's ``hello`` info; placeholders when its RPC does not answer."""
        settings = self.settings
        try:
            return await self.chain.node_info(settings.node_name, settings.contact, settings.p2p_port)
        except RpcError as exc:
            # Still log in, so the dashboard shows the node as down rather than not at all.
            log.warning("node RPC not answering (%s); reporting it inactive", exc)
            return NodeInfo(
                name=settings.node_name,
                contact=settings.contact,
                node="unknown (node RPC not answering)",
                net="",
                protocol="",
                port=settings.p2p_port,
                os="",
                os_v="",
                client="",
                api="",
            )

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(cap=self.settings.max_backoff_seconds)
        while not stop.is_set():
            try:
                async with connect(
                    self.settings.url, open_timeout=self.settings.timeout_seconds, close_timeout=1
                ) as socket:
                    await Session(self, socket, backoff).run(stop)
            except (OSError, TimeoutError, WebSocketException, LoginRefused) as exc:
                log.warning("ethstats connection to %s ended: %s: %s", self.settings.url, type(exc).__name__, exc)
            if stop.is_set():
                return
            delay = backoff.next_delay()
            log.info("reconnecting in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


class Session:
    """One connection's lifetime: login, then reports until the connection breaks or ``stop`` is set."""

    def __init__(self, reporter: Reporter, socket: ClientConnection, backoff: Backoff) -> None:
        self._r = reporter
        self._socket = socket
        self._backoff = backoff
        self._send_lock = asyncio.Lock()
        self._pong: asyncio.Future[Any] | None = None
        self._history: asyncio.Queue[list[int]] = asyncio.Queue()
        self._head: int | None = None

    async def _send(self, frame: str) -> None:
        async with self._send_lock:
            await self._socket.send(frame)

    async def _login(self) -> None:
        info = await self._r.node_info()
        await self._send(protocol.hello(self._r.node_id, info, self._r.settings.secret_value()))
        deadline = time.monotonic() + self._r.settings.timeout_seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LoginRefused("no 'ready' after hello")
            try:
                message = protocol.parse(await asyncio.wait_for(self._socket.recv(), remaining))
            except ValueError as exc:
                raise LoginRefused(f"unexpected answer to hello: {exc}") from None
            except TimeoutError:
                raise LoginRefused("no 'ready' after hello") from None
            if message.reply is not None:
                await self._send(message.reply)
            elif message.event == "ready":
                return
            else:
                raise LoginRefused(f"server answered hello with {message.event!r}")

    async def _read(self) -> None:
        async for frame in self._socket:
            try:
                message = protocol.parse(frame)
            except ValueError as exc:
                log.debug("ignoring frame: %s", exc)
                continue
            if message.reply is not None:
                await self._send(message.reply)
            elif message.event == "node-pong" and self._pong is not None and not self._pong.done():
                self._pong.set_result(message.payload)
            elif message.event == "history":
                self._history.put_nowait(protocol.history_request(message.payload, HISTORY_BLOCKS))
            else:
                log.debug("ignoring event %r", message.event)

    async def run(self, stop: asyncio.Event) -> None:
        await self._login()
        self._backoff.reset()
        log.info("logged in to %s as %s", self._r.settings.url, self._r.node_id)
        reader = asyncio.create_task(self._read(), name="ethstats-reader")
        stopper = asyncio.create_task(stop.wait(), name="ethstats-stop")
        try:
            await self._full_report()
            last_full = time.monotonic()
            while not stop.is_set():
                history = asyncio.create_task(self._history.get(), name="ethstats-history")
                done, _ = await asyncio.wait(
                    {reader, stopper, history},
                    timeout=self._r.settings.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if history in done:
                    await self._report_history(history.result())
                else:
                    history.cancel()
                if reader in done:
                    reader.result()  # re-raises why the connection ended
                    raise ConnectionError("dashboard closed the connection")
                if stop.is_set():
                    return
                await self._poll_head()
                if time.monotonic() - last_full >= self._r.settings.report_seconds:
                    await self._full_report()
                    last_full = time.monotonic()
        finally:
            for task in (reader, stopper):
                task.cancel()
            await asyncio.gather(reader, stopper, return_exceptions=True)

    # -- reports -----------------------------------------------------------------------------------------------

    async def _full_report(self) -> None:
        await self._report_latency()
        await self._poll_head(force=True)
        await self._report_stats()

    async def _report_latency(self) -> None:
        self._pong = asyncio.get_running_loop().create_future()
        sent = time.time()
        await self._send(protocol.node_ping(self._r.node_id, int(sent * 1000)))
        try:
            await asyncio.wait_for(self._pong, self._r.settings.timeout_seconds)
        except TimeoutError:
            raise TimeoutError("no node-pong from the dashboard") from None
        latency = max(0, round((time.time() - sent) * 1000 / 2))
        await self._send(protocol.latency_message(self._r.node_id, latency))

    async def _poll_head(self, force: bool = False) -> None:
        """Report the head (and the pending count) when it changed, back-filling skipped blocks."""
        try:
            head = await self._r.chain.head_number()
            unchanged = head == self._head and not force
            if not unchanged:
                block = await self._r.chain.block(head)
                pending = await self._r.chain.pending()
        except RpcError as exc:
            self._r.uptime.record(answered=False)
            log.warning("node RPC: %s", exc)
            return
        self._r.uptime.record(answered=True)
        if unchanged:
            return
        previous, self._head = self._head, head
        if block is not None:
            await self._send(protocol.block_message(self._r.node_id, block))
        await self._send(protocol.pending_message(self._r.node_id, pending))
        if previous is not None and head - previous > 1:
            await self._report_history(list(range(max(previous + 1, head - MISSED_BLOCKS), head)))

    async def _report_stats(self) -> None:
        try:
            stats = await self._r.chain.stats(self._r.uptime.percent)
        except RpcError as exc:
            log.warning("node RPC: %s", exc)
            stats = inactive_stats(self._r.uptime.percent)
        await self._send(protocol.stats_message(self._r.node_id, stats))

    async def _report_history(self, numbers: list[int]) -> None:
        try:
            if not numbers:
                head = await self._r.chain.head_number()
                numbers = list(range(max(0, head - HISTORY_BLOCKS + 1), head + 1))
            blocks = [block for n in numbers if (block := await self._r.chain.block(n)) is not None]
        except RpcError as exc:
            log.warning("history not sent, node RPC: %s", exc)
            return
        await self._send(protocol.history_message(self._r.node_id, blocks))
