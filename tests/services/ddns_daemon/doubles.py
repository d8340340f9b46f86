"""Small real HTTP servers on 127.0.0.1 standing in for what the daemon talks to on a node.

* ``echo``: "what is my IP" services (plain-text body), one address per path so many nodes share one server.
* ``Imds``: EC2 instance metadata with IMDSv2 session tokens (PUT for a token, GET with the token header, 401 without).
* ``GcpMetadata``: the Compute Engine metadata server (``Metadata-Flavor: Google`` required and answered).
* ``BesuRpcDouble``: Besu's JSON-RPC for the admin and perm methods, recording every call, served over WebSocket
  (``WsDouble``, a real ``websockets`` server, as Besu's loopback ``rpc-ws`` endpoint) or HTTP. It keeps an
  allowlist and answers as Besu does (same error codes and messages), including refusing ``admin_addPeer`` for a
  node that is not allowlisted, so the daemon's call order is checked too. Besu itself cannot run on this machine.
* ``Scripted``: answers from a list of canned responses (the DDNS function's failure modes: 503s, 4xx).

Each server runs in a daemon thread for the duration of a ``with`` block and stops itself at its end.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.sync.server import Server, ServerConnection, serve


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, body: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, body.encode(), {"Content-Type": "text/plain", **(headers or {})})


Handler = Callable[[Request], Reply]


class HttpDouble:
    """A threaded HTTP server on 127.0.0.1 answering with ``handler``; records every request."""

    def __init__(self, handler: Handler, port: int = 0) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.release = threading.Event()
        """Set when the server stops: handlers that wait (slow sources) return then."""
        double = self

        class _Handler(BaseHTTPRequestHandler):
            # One request per connection: a stopped double then really stops answering, as a stopped Besu does.
            protocol_version = "HTTP/1.0"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                double.requests.append(request)
                reply = double.handler(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_PUT = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HttpDouble:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


class WsDouble:
    """A WebSocket server on 127.0.0.1 (``websockets``' threaded server): each text message is passed to
    ``handler`` and the messages it returns are sent back in order. Records the upgrade requests' headers and counts
    connections. ``required_token``: upgrades without ``Authorization: Bearer <token>`` are refused with 401, as
    Besu refuses them with ``rpc-ws-authentication-enabled``. Stopping closes open connections (code 1001), as a
    stopping Besu does."""

    def __init__(self, handler: Callable[[str], list[str]], port: int = 0, required_token: str | None = None) -> None:
        self.handler = handler
        self.required_token = required_token
        self.handshakes: list[Headers] = []
        self.connections = 0
        self._server: Server = serve(
            self._serve_connection,
            "127.0.0.1",
            port,
            compression=None,
            process_request=self._check_upgrade,
        )
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"
        self._thread: threading.Thread | None = None

    def _check_upgrade(self, connection: ServerConnection, request: WsRequest) -> WsResponse | None:
        self.handshakes.append(request.headers)
        if self.required_token is not None and request.headers.get("Authorization") != f"Bearer {self.required_token}":
            return connection.respond(401, "Unauthorized\n")
        return None

    def _serve_connection(self, connection: ServerConnection) -> None:
        self.connections += 1
        try:
            for message in connection:
                for answer in self.handler(message if isinstance(message, str) else message.decode()):
                    connection.send(answer)
        except ConnectionClosed:
            pass

    def __enter__(self) -> WsDouble:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)


@contextlib.contextmanager
def echo(addresses: dict[str, str]) -> Iterator[HttpDouble]:
    """Answers ``GET /<key>`` with ``addresses[key]`` as plain text (mutate the dict to change an address)."""

    def handle(request: Request) -> Reply:
        key = request.path.strip("/")
        if key not in addresses:
            return Reply.text("unknown", 404)
        return Reply.text(addresses[key] + "\n")

    with HttpDouble(handle) as server:
        yield server


class Imds:
    """IMDSv2: a token from ``PUT /latest/api/token`` (TTL header required), then GETs carrying it."""

    def __init__(self, public_ipv4: str | None) -> None:
        self.public_ipv4 = public_ipv4
        self.tokens: list[str] = []
        """Tokens currently valid."""
        self.issued = 0
        self.server = HttpDouble(self.handle)

    def handle(self, request: Request) -> Reply:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if request.path == "/latest/api/token":
            if request.method != "PUT":
                return Reply.text("", 405)
            ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return Reply.text("", 400)
            self.issued += 1
            token = f"token-{self.issued}"
            self.tokens.append(token)
            return Reply.text(token, headers={"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": ttl})
        if request.path == "/latest/meta-data/public-ipv4":
            if headers.get("x-aws-ec2-metadata-token") not in self.tokens:
                return Reply.text("", 401)
            if self.public_ipv4 is None:
                return Reply.text("", 404)
            return Reply.text(self.public_ipv4)
        return Reply.text("", 404)

    def expire_tokens(self) -> None:
        self.tokens.clear()


class GcpMetadata:
    PATH = "/computeMetadata/v1/instance/network-interfaces/0/access-configs/0/external-ip"

    def __init__(self, external_ip: str) -> None:
        self.external_ip = external_ip
        self.server = HttpDouble(self.handle)

    def handle(self, request: Request) -> Reply:
        flavor = {"Metadata-Flavor": "Google"}
        if {k.lower(): v for k, v in request.headers.items()}.get("metadata-flavor") != "Google":
            return Reply.text("Missing Metadata-Flavor:Google header.", 403, flavor)
        if request.path != self.PATH:
            return Reply.text("not found", 404, flavor)
        return Reply.text(self.external_ip, headers=flavor)


NOT_PERMITTED = "Cannot add a non-permitted node as a peer"


class BesuRpcDouble:
    """Besu's admin/perm JSON-RPC methods, with Besu's error messages; ``calls`` records (method, params).

    ``transport="ws"`` (default) serves them as Besu's loopback WebSocket endpoint does, ``"http"`` over HTTP POST;
    ``server.url`` is the endpoint either way. ``notify_before_answer`` makes the WebSocket server send an
    unrelated notification (as a subscription would) before each answer."""

    def __init__(
        self,
        allowlist: list[str] | None = None,
        peers: list[str] | None = None,
        port: int = 0,
        transport: Literal["ws", "http"] = "ws",
        required_token: str | None = None,
    ) -> None:
        self.calls: list[tuple[str, list[Any]]] = []
        self.call_times: list[float] = []
        """``time.monotonic()`` of each call in ``calls`` (the benchmark measures convergence with it)."""
        self.allowlist: list[str] | None = list(allowlist) if allowlist is not None else None
        self.peers: set[str] = set(peers or [])
        self.fixed: set[str] = set()
        self.disabled_methods: set[str] = set()
        self.notify_before_answer = False
        self.server: HttpDouble | WsDouble = (
            WsDouble(self.handle_message, port, required_token) if transport == "ws" else HttpDouble(self.handle, port)
        )
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Reply:
        """The HTTP transport: one JSON-RPC request per POST."""
        return Reply.json(200, self.answer(json.loads(request.body)))

    def handle_message(self, text: str) -> list[str]:
        """The WebSocket transport: one JSON-RPC request per text message."""
        answer = json.dumps(self.answer(json.loads(text)))
        if self.notify_before_answer:
            notification = {"jsonrpc": "2.0", "method": "eth_subscription", "params": {"subscription": "0x1"}}
            return [json.dumps(notification), answer]
        return [answer]

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        method, params, ident = message["method"], message.get("params", []), message.get("id")
        with self._lock:
            self.calls.append((method, params))
            self.call_times.append(time.monotonic())
            try:
                result = self._dispatch(method, params)
            except _RpcError as exc:
                return {"jsonrpc": "2.0", "id": ident, "error": {"code": exc.code, "message": exc.message}}
        return {"jsonrpc": "2.0", "id": ident, "result": result}

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        if method in self.disabled_methods:
            raise _RpcError(-32604, "Method not enabled")
        if method == "admin_addPeer":
            enode = params[0]
            if self.allowlist is not None and enode not in self.allowlist:
                raise _RpcError(-32000, NOT_PERMITTED)
            self.peers.add(enode)
            return True
        if method == "admin_removePeer":
            present = params[0] in self.peers
            self.peers.discard(params[0])
            return present
        if method in ("perm_addNodesToAllowlist", "perm_removeNodesFromAllowlist"):
            if self.allowlist is None:
                raise _RpcError(-32000, "Node allowlist has not been enabled")
            (enodes,) = params
            if method == "perm_addNodesToAllowlist":
                if any(e in self.allowlist for e in enodes):
                    raise _RpcError(-32000, "Cannot add an existing node to allowlist")
                self.allowlist.extend(enodes)
            else:
                if any(e in self.fixed for e in enodes):
                    raise _RpcError(-32000, "Cannot remove a fixed node (bootnode or static node) from allowlist")
                if any(e not in self.allowlist for e in enodes):
                    raise _RpcError(-32000, "Cannot remove an absent node from allowlist")
                self.allowlist = [e for e in self.allowlist if e not in enodes]
            return "Success"
        raise _RpcError(-32601, "Method not found")

    def reset(self) -> None:
        """Forget the recorded calls (the allowlist and peers stay)."""
        with self._lock:
            self.calls.clear()
            self.call_times.clear()

    def first_call(self, method: str, first_param: Any) -> float | None:
        """When ``method`` was first called with ``first_param``, or None."""
        with self._lock:
            for (name, params), when in zip(self.calls, self.call_times, strict=True):
                if name == method and params and params[0] == first_param:
                    return when
        return None

    def called(self, method: str) -> list[Any]:
        """The first parameter of every call of ``method``, in order."""
        return [params[0] for name, params in self.calls if name == method]


class _RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message


class Scripted:
    """Answers requests from ``replies`` in order (the last one repeats); records the requests."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.server = HttpDouble(self.handle)

    def handle(self, request: Request) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.server.requests if r.method == "POST"]
