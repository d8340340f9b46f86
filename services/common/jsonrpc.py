"""A minimal asynchronous JSON-RPC 2.0 client over HTTP, for the read-only calls the node's sidecars make.

web3.py would double each image (about 100 MB of dependencies, native crypto included) for a dozen calls whose
answers are plain hex quantities, so the healthcheck and the ethstats client use httpx directly and this module
turns transport failures and JSON-RPC errors into one exception type they can report.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx


class RpcError(Exception):
    """The node answered with a JSON-RPC error, or did not answer with JSON-RPC at all."""


class RpcUnreachable(RpcError):
    """Nothing answered at the RPC URL (connection refused, timeout): the process is down or wedged."""


class JsonRpc:
    """Calls on one JSON-RPC endpoint through a shared ``httpx.AsyncClient``."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self._url = url
        self._client = client
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return self._url

    async def call(self, method: str, *params: Any) -> Any:
        """The ``result`` of ``method``; raises ``RpcUnreachable`` or ``RpcError`` naming the method."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            response = await self._client.post(self._url, json=payload)
        except httpx.TransportError as exc:
            raise RpcUnreachable(f"{method}: {type(exc).__name__} reaching {self._url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            raise RpcError(f"{method}: HTTP {response.status_code}, not a JSON-RPC answer") from None
        if not isinstance(body, dict):
            raise RpcError(f"{method}: unexpected JSON-RPC answer {body!r:.200}")
        if "error" in body:
            error = body["error"] or {}
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RpcError(f"{method}: {message}")
        if "result" not in body:
            raise RpcError(f"{method}: answer has neither result nor error")
        return body["result"]


def quantity(value: Any, what: str) -> int:
    """A JSON-RPC hex quantity (``"0x1a"``) as an int; ``RpcError`` if it is not one."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcError(f"{what}: {value!r} is not a hex quantity")
