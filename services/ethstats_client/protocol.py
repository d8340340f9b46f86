"""The ethstats wire protocol (eth-net-intelligence-api / eth-netstats), as pure functions.

The server is a Primus endpoint at ``/api`` using the ``websockets`` transformer with the ``primus-emit``
plugin, so every event is one JSON text frame ``{"emit": [<event>, <payload>]}``. The exchange, as the reference
client and go-ethereum's reporter implement it:

* client ``hello`` ``{id, info, secret}``; the server answers ``{"emit": ["ready"]}`` or drops the connection;
* client ``block`` ``{id, block}``, ``pending`` ``{id, stats: {pending}}``, ``stats`` ``{id, stats}``;
* client ``node-ping`` ``{id, clientTime}``; server ``node-pong`` echoes ``clientTime``; client ``latency``
  ``{id, latency}`` with half the round trip in milliseconds;
* server ``history`` ``{list: [block numbers]}``; client ``history`` ``{id, history: [blocks]}``;
* Primus keep-alive: the server sends the JSON string ``"primus::ping::<ms>"``, the client answers
  ``"primus::pong::<ms>"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PRIMUS_PING = "primus::ping::"
PRIMUS_PONG = "primus::pong::"


@dataclass(frozen=True)
class NodeInfo:
    """What the dashboard shows about the node, sent once per connection in ``hello``."""

    name: str
    contact: str
    node: str
    """The client version string (``web3_clientVersion``), e.g. ``besu/v24.12.2/linux-x86_64/openjdk-java-21``."""
    net: str
    """The network id (``net_version``)."""
    protocol: str
    port: int
    os: str
    os_v: str
    client: str
    api: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "contact": self.contact,
            "node": self.node,
            "net": self.net,
            "protocol": self.protocol,
            "api": self.api,
            "port": self.port,
            "os": self.os,
            "os_v": self.os_v,
            "client": self.client,
            "canUpdateHistory": True,
        }


def emit(event: str, payload: dict[str, Any] | None = None) -> str:
    """One protocol frame."""
    return json.dumps({"emit": [event] if payload is None else [event, payload]}, separators=(",", ":"))


def hello(node_id: str, info: NodeInfo, secret: str) -> str:
    return emit("hello", {"id": node_id, "info": info.as_json(), "secret": secret})


def block_message(node_id: str, block: dict[str, Any]) -> str:
    return emit("block", {"id": node_id, "block": block})


def pending_message(node_id: str, pending: int) -> str:
    return emit("pending", {"id": node_id, "stats": {"pending": pending}})


def stats_message(node_id: str, stats: dict[str, Any]) -> str:
    return emit("stats", {"id": node_id, "stats": stats})


def node_ping(node_id: str, client_time_ms: int) -> str:
    return emit("node-ping", {"id": node_id, "clientTime": client_time_ms})


def latency_message(node_id: str, latency_ms: int) -> str:
    return emit("latency", {"id": node_id, "latency": latency_ms})


def history_message(node_id: str, blocks: list[dict[str, Any]]) -> str:
    return emit("history", {"id": node_id, "history": blocks})


@dataclass(frozen=True)
class Incoming:
    """A decoded server frame: a Primus ping (``reply`` set) or an emitted event."""

    event: str
    payload: Any = None
    reply: str | None = None
    """A frame to send back at once (the Primus pong)."""


def parse(frame: str | bytes) -> Incoming:
    """Decode one server frame; ``ValueError`` for anything that is not part of the protocol."""
    data = json.loads(frame)
    if isinstance(data, str):
        if data.startswith(PRIMUS_PING):
            return Incoming("primus-ping", reply=json.dumps(PRIMUS_PONG + data.removeprefix(PRIMUS_PING)))
        raise ValueError(f"unexpected string frame {data[:60]!r}")
    if not isinstance(data, dict) or not isinstance(data.get("emit"), list) or not data["emit"]:
        raise ValueError(f"not an emit frame: {str(data)[:120]}")
    event = data["emit"][0]
    if not isinstance(event, str):
        raise ValueError(f"event name is not a string: {event!r}")
    payload = data["emit"][1] if len(data["emit"]) > 1 else None
    return Incoming(event, payload)


def history_request(payload: Any, max_blocks: int) -> list[int]:
    """The block numbers a ``history`` request asks for (at most ``max_blocks``, newest first kept)."""
    numbers = payload.get("list") if isinstance(payload, dict) else None
    if not isinstance(numbers, list):
        return []
    wanted = sorted({int(n) for n in numbers if isinstance(n, int | float) and n >= 0})
    return wanted[-max_blocks:]
