"""The few Besu JSON-RPC methods the daemon uses to change peers without restarting Besu.

* ``admin_addPeer(enode)`` / ``admin_removePeer(enode)``: params ``[enodeUrl]``, result ``true``/``false``.
  Adding keeps a maintained connection (like a static node); removing drops it.
* ``perm_addNodesToAllowlist([enode, ...])`` / ``perm_removeNodesFromAllowlist([enode, ...])``: params are *one*
  array of enode URLs; result ``"Success"``. Besu answers every refusal with code -32000 and a message, so the
  outcome is told apart by the message (Besu's ``RpcErrorType`` texts). The daemon sends one enode per call, so
  one entry that Besu refuses (e.g. a fixed node) cannot block the others.

Besu keeps its in-memory allowlist and also writes ``permissions_config.toml`` itself, but only if the file still
matches its memory; the daemon has already written the file, so Besu usually answers "file out of sync ... the
changes have been applied": for the daemon that is success (the file is right, and so is Besu's memory).
"""

from __future__ import annotations

import itertools
from enum import StrEnum
from typing import Any

import httpx

ADD_PEER = "admin_addPeer"
REMOVE_PEER = "admin_removePeer"
ALLOWLIST_ADD = "perm_addNodesToAllowlist"
ALLOWLIST_REMOVE = "perm_removeNodesFromAllowlist"

METHOD_NOT_ENABLED = -32604
METHOD_NOT_FOUND = -32601


class RpcUnreachable(Exception):
    """Besu's JSON-RPC endpoint did not answer (Besu down or restarting); the caller tries again later."""


class RpcError(Exception):
    """Besu answered with a JSON-RPC error."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        self.method = method
        self.code = code
        self.message = message
        super().__init__(f"{method}: {message} (code {code})")

    @property
    def hint(self) -> str:
        if self.code in (METHOD_NOT_ENABLED, METHOD_NOT_FOUND):
            api = "ADMIN" if self.method.startswith("admin_") else "PERM"
            return f"enable the {api} API in Besu's rpc-http-api for the daemon's RPC endpoint"
        return ""


class AllowlistOutcome(StrEnum):
    APPLIED = "applied"
    ALREADY = "already"
    """Nothing to do: the enode was already (or no longer) in Besu's allowlist."""
    FIXED_NODE = "fixed-node"
    """Besu refuses to remove a bootnode or static node it started with; it stays allowed until Besu restarts."""


_ALLOWLIST_MESSAGES: tuple[tuple[str, AllowlistOutcome], ...] = (
    ("Cannot add an existing node", AllowlistOutcome.ALREADY),
    ("Cannot remove an absent node", AllowlistOutcome.ALREADY),
    ("configuration file is out of sync", AllowlistOutcome.APPLIED),
    ("Cannot remove a fixed node", AllowlistOutcome.FIXED_NODE),
)


class BesuRpc:
    def __init__(self, url: str, client: httpx.Client, auth_token: str | None = None) -> None:
        self._url = url
        self._client = client
        self._headers = {"Content-Type": "application/json"}
        if auth_token:
            self._headers["Authorization"] = f"Bearer {auth_token}"
        self._ids = itertools.count(1)

    def call(self, method: str, params: list[Any]) -> Any:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            response = self._client.post(self._url, json=request, headers=self._headers)
        except httpx.TransportError as exc:
            raise RpcUnreachable(f"Besu JSON-RPC at {self._url} did not answer ({type(exc).__name__})") from None
        if response.status_code == 401:
            raise RpcError(method, None, "HTTP 401: Besu requires an authentication token; set besu.auth_token_file")
        try:
            document = response.json()
        except ValueError:
            raise RpcError(method, None, f"HTTP {response.status_code} with a body that is not JSON") from None
        if not isinstance(document, dict):
            raise RpcError(method, None, "the answer is not a JSON-RPC object")
        error = document.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise RpcError(method, code if isinstance(code, int) else None, str(message))
        if "result" not in document:
            raise RpcError(method, None, f"HTTP {response.status_code} without result or error")
        return document["result"]

    def add_peer(self, enode: str) -> bool:
        return bool(self.call(ADD_PEER, [enode]))

    def remove_peer(self, enode: str) -> bool:
        return bool(self.call(REMOVE_PEER, [enode]))

    def allowlist_add(self, enode: str) -> AllowlistOutcome:
        return self._allowlist(ALLOWLIST_ADD, enode)

    def allowlist_remove(self, enode: str) -> AllowlistOutcome:
        return self._allowlist(ALLOWLIST_REMOVE, enode)

    def _allowlist(self, method: str, enode: str) -> AllowlistOutcome:
        try:
            self.call(method, [[enode]])
        except RpcError as exc:
            for fragment, outcome in _ALLOWLIST_MESSAGES:
                if fragment in exc.message:
                    return outcome
            raise
        return AllowlistOutcome.APPLIED
