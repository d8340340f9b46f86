"""A stand-in ethstats dashboard: a WebSocket server on 127.0.0.1 that speaks the server side of the protocol
(as eth-netstats does through Primus) and records every frame it receives, per connection.

It answers ``hello`` with ``ready`` when the secret matches (and closes the connection otherwise), answers
``node-ping`` with ``node-pong`` echoing ``clientTime``, and can push a Primus ping and a ``history`` request
to check the client's replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


@dataclass
class Dashboard:
    secret: str
    refuse_first: int = 0
    """Close this many connections right after their hello, whatever the secret (a dashboard restarting)."""
    push_after_ready: list[Any] = field(default_factory=list)
    """Frames (already JSON-decoded) the server sends once a client is logged in."""
    connections: list[list[Any]] = field(default_factory=list)
    """Every decoded frame received, one list per connection, in order."""
    url: str = ""

    def events(self, connection: int = -1) -> list[tuple[str, Any]]:
        """(event, payload) of the emit frames of one connection (none before the first connection)."""
        if not self.connections:
            return []
        return [
            (frame["emit"][0], frame["emit"][1] if len(frame["emit"]) > 1 else None)
            for frame in self.connections[connection]
            if isinstance(frame, dict) and "emit" in frame
        ]

    def payloads(self, event: str, connection: int = -1) -> list[Any]:
        return [payload for name, payload in self.events(connection) if name == event]

    async def _handle(self, socket: ServerConnection) -> None:
        received: list[Any] = []
        self.connections.append(received)
        index = len(self.connections)
        try:
            async for raw in socket:
                frame = json.loads(raw)
                received.append(frame)
                if not isinstance(frame, dict):
                    continue
                event, payload = frame["emit"][0], (frame["emit"] + [None])[1]
                if event == "hello":
                    if index <= self.refuse_first or payload.get("secret") != self.secret:
                        await socket.close()
                        return
                    await socket.send(json.dumps({"emit": ["ready"]}))
                    for pushed in self.push_after_ready:
                        await socket.send(json.dumps(pushed))
                elif event == "node-ping":
                    pong = {"clientTime": payload["clientTime"], "serverTime": int(time.time() * 1000)}
                    await socket.send(json.dumps({"emit": ["node-pong", pong]}))
        except ConnectionClosed:
            pass


@contextlib.asynccontextmanager
async def dashboard(secret: str, **options: Any) -> AsyncIterator[Dashboard]:
    board = Dashboard(secret, **options)
    async with serve(board._handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        board.url = f"ws://127.0.0.1:{port}"
        yield board


async def wait_for(condition: Any, what: str, timeout: float = 10.0) -> None:
    """Poll ``condition()`` inside the event loop until true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
