"""The few Besu JSON-RPC methods the daemon uses to change peers without restarting Besu, and how it reaches them.

Transport. Besu's HTTP JSON-RPC (4545) carries only the role's public APIs: nginx publishes it, so ADMIN and PERM
must never be on it. They are on the WebSocket endpoint ``ws://127.0.0.1:4546`` only (``rpc-ws-api``, bound to
loopback, see ``lacchain/besu/config.py``), which is the daemon's default. ``WebSocketTransport`` keeps one
connection open (a peer change is a burst of calls, and the daemon polls every second) and reopens it when Besu
restarted. ``HttpTransport`` stays for operators who run their own Besu with ADMIN on a private HTTP endpoint.
``connect(url, ...)`` picks the transport from the URL scheme.

Methods:

* ``admin_addPeer(enode)`` / ``admin_removePeer(enode)``: params ``[enodeUrl]``, result ``true``/``false``.
  Adding keeps a maintained connection (like a static node); removing drops it.
* ``perm_addNodesToAllowlist([enode, ...])`` / ``perm_removeNodesFromAllowlist([enode, ...])``: params are *one*
  array of enode URLs; result ``"Success"``. Besu answers every refusal with code -32000 and a message, so the
  outcome is told apart by the message (Besu's ``RpcErrorType`` texts). The daemon sends one enode per call, so
  one entry that Besu refuses (e.g. a fixed node) cannot block the others.

Every call is safe to repeat (adding a present peer or removing an absent one changes nothing, and the allowlist
answers "existing"/"absent", read as ``ALREADY``), which is what lets the WebSocket transport resend a call once on
a fresh connection when the kept one turns out to be dead.

Besu keeps its in-memory allowlist and also writes ``permissions_config.toml`` itself, but only if the file still
matches its memory; the daemon has already written the file, so Besu usually answers "file out of sync ... the
changes have been applied": for the daemon that is success (the file is right, and so is Besu's memory).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

ADD_PEER = "admin_addPeer"
REMOVE_PEER = "admin_removePeer"
ALLOWLIST_ADD = "perm_addNodesToAllowlist"
ALLOWLIST_REMOVE = "perm_removeNodesFromAllowlist"

METHOD_NOT_ENABLED = -32604
METHOD_NOT_FOUND = -32601

MAX_ANSWER_BYTES = 1 << 20
"""Largest JSON-RPC answer read (Besu's own ``rpc-ws-max-frame-size`` default); the daemon's answers are tiny."""
MAX_UNRELATED_MESSAGES = 100
"""Messages that are not the answer to the pending call (subscription notifications) skipped before giving up."""


class RpcUnreachable(Exception):
    """Besu's JSON-RPC endpoint did not answer (Besu down or restarting); the caller tries again later."""


class RpcError(Exception):
    """Besu answered with a JSON-RPC error, or refused the connection itself (authentication)."""

    def __init__(self, method: str, code: int | None, message: str, api_option: str = "rpc-ws-api") -> None:
        self.method = method
        self.code = code
        self.message = message
        self.api_option = api_option
        """The Besu option that lists the endpoint's APIs (``rpc-ws-api`` or ``rpc-http-api``), for the hint."""
        super().__init__(f"{method}: {message} (code {code})")

    @property
    def hint(self) -> str:
        if self.code in (METHOD_NOT_ENABLED, METHOD_NOT_FOUND):
            api = "ADMIN" if self.method.startswith("admin_") else "PERM"
            return f"enable the {api} API in Besu's {self.api_option} for the daemon's RPC endpoint"
        return ""


class Transport(Protocol):
    """Sends one JSON-RPC request and returns Besu's parsed answer (any JSON value)."""

    url: str
    api_option: str

    def exchange(self, method: str, request: dict[str, Any]) -> Any:
        """Raises ``RpcUnreachable`` when Besu did not answer, ``RpcError`` when it refused the request itself."""
        ...

    def close(self) -> None: ...


class HttpTransport:
    """JSON-RPC over HTTP POST (one request per call) through an ``httpx.Client`` the caller owns."""

    api_option = "rpc-http-api"

    def __init__(self, url: str, client: httpx.Client, auth_token: str | None = None) -> None:
        self.url = url
        self._client = client
        self._headers = {"Content-Type": "application/json"}
        if auth_token:
            self._headers["Authorization"] = f"Bearer {auth_token}"

    def exchange(self, method: str, request: dict[str, Any]) -> Any:
        try:
            response = self._client.post(self.url, json=request, headers=self._headers)
        except httpx.TransportError as exc:
            raise RpcUnreachable(f"Besu JSON-RPC at {self.url} did not answer ({type(exc).__name__})") from None
        if response.status_code == 401:
            raise RpcError(
                method,
                None,
                "HTTP 401: Besu requires an authentication token; set besu.auth_token_file",
                self.api_option,
            )
        try:
            return response.json()
        except ValueError:
            raise RpcError(
                method, None, f"HTTP {response.status_code} with a body that is not JSON", self.api_option
            ) from None

    def close(self) -> None:
        """The client belongs to the caller (the daemon closes all its clients together)."""


Connector = Callable[..., contextlib.AbstractContextManager[ClientConnection]]


class WebSocketTransport:
    """JSON-RPC over one kept WebSocket connection (Besu's ``rpc-ws-*`` endpoint).

    The connection is opened on the first call and reused. When a call finds it closed (Besu restarted, or closed
    it), the connection is reopened once and the call sent again; a failure on a freshly opened connection means
    Besu is not answering (``RpcUnreachable``). A call that gets no answer within ``timeout`` also drops the
    connection, so a late answer can never be taken for the next call's. The JWT (``rpc-ws-authentication-
    enabled``) goes in the upgrade request's ``Authorization: Bearer`` header, which is where Besu reads it.
    Calls are serialised by a lock: one request in flight at a time.
    """

    api_option = "rpc-ws-api"

    def __init__(
        self, url: str, timeout: float, auth_token: str | None = None, connector: Connector = ws_connect
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else None
        self._connector = connector
        self._connection: ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self.connections_opened = 0
        """How often a connection was (re)opened: a kept connection shows as 1 over many calls."""

    def exchange(self, method: str, request: dict[str, Any]) -> Any:
        text = json.dumps(request, separators=(",", ":"))
        with self._lock:
            for _ in range(2):
                fresh = self._connection is None
                connection = self._connection if self._connection is not None else self._open(method)
                try:
                    connection.send(text)
                    return self._answer(connection, request["id"], method)
                except (ConnectionClosed, OSError):
                    self._drop()
                    if fresh:
                        raise RpcUnreachable(f"Besu closed the WebSocket at {self.url} during {method}") from None
                    # The kept connection was dead (Besu restarted): send again once on a new one.
            raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _open(self, method: str) -> ClientConnection:
        try:
            # Entered as a context manager (websockets' supported way) and left by ``_drop``.
            connection = self._stack.enter_context(
                self._connector(
                    self.url,
                    additional_headers=self._headers,
                    open_timeout=self.timeout,
                    close_timeout=min(self.timeout, 2.0),
                    ping_interval=None,  # a dead connection shows on the next send; no keep-alive thread needed
                    compression=None,
                    proxy=None,  # loopback: never through an HTTP proxy from the environment
                    max_size=MAX_ANSWER_BYTES,
                    user_agent_header="lacchain-ddns",
                )
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise RpcError(
                    method,
                    None,
                    f"HTTP {status} on the WebSocket upgrade: Besu requires a valid authentication token; "
                    "set besu.auth_token_file",
                    self.api_option,
                ) from None
            raise RpcUnreachable(f"Besu WebSocket at {self.url} refused the upgrade (HTTP {status})") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise RpcUnreachable(f"Besu JSON-RPC at {self.url} did not answer ({type(exc).__name__})") from None
        self._connection = connection
        self.connections_opened += 1
        return connection

    def _answer(self, connection: ClientConnection, ident: int, method: str) -> Any:
        deadline = time.monotonic() + self.timeout
        for _ in range(MAX_UNRELATED_MESSAGES):
            try:
                message = connection.recv(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self._drop()
                raise RpcUnreachable(f"Besu did not answer {method} within {self.timeout} s") from None
            try:
                document = json.loads(message)
            except ValueError:
                self._drop()
                raise RpcError(method, None, "an answer that is not JSON", self.api_option) from None
            if isinstance(document, dict) and ("method" in document or document.get("id") not in (ident, None)):
                continue  # a notification, or the answer to an abandoned call: not ours
            return document  # ours, or an error Besu could not attribute (id null): reported by the caller
        self._drop()
        raise RpcError(method, None, f"no answer among {MAX_UNRELATED_MESSAGES} messages", self.api_option)

    def _drop(self) -> None:
        self._connection = None
        # Closing a broken connection can fail in many ways; it is gone either way.
        with contextlib.suppress(Exception):
            self._stack.close()

    def close(self) -> None:
        with self._lock:
            self._drop()


def connect(
    url: str, *, timeout: float, auth_token: str | None = None, http_client: httpx.Client | None = None
) -> BesuRpc:
    """A client for Besu's JSON-RPC at ``url``: ``ws://``/``wss://`` (the default, loopback admin endpoint) or
    ``http://``/``https://`` (then ``http_client`` is used, or a new one with ``timeout``)."""
    scheme = urlsplit(url).scheme
    if scheme in ("ws", "wss"):
        return BesuRpc(WebSocketTransport(url, timeout, auth_token))
    if scheme in ("http", "https"):
        client = http_client if http_client is not None else httpx.Client(timeout=timeout, trust_env=False)
        return BesuRpc(HttpTransport(url, client, auth_token))
    raise ValueError(f"{url!r}: Besu's JSON-RPC URL must be ws://, wss://, http:// or https://")


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
    """Besu's admin and perm methods over a ``Transport``; JSON-RPC errors become ``RpcError``."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return self.transport.url

    def close(self) -> None:
        self.transport.close()

    def call(self, method: str, params: list[Any]) -> Any:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        document = self.transport.exchange(method, request)
        api_option = self.transport.api_option
        if not isinstance(document, dict):
            raise RpcError(method, None, "the answer is not a JSON-RPC object", api_option)
        error = document.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise RpcError(method, code if isinstance(code, int) else None, str(message), api_option)
        if "result" not in document:
            raise RpcError(method, None, "an answer without result or error", api_option)
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
