"""Stand-ins for a node's neighbours, shared by the healthcheck and ethstats client tests.

* ``anvil_chain``: a real JSON-RPC chain (anvil) with chosen flags: sealing every second like an IBFT network,
  or frozen at an old genesis.
* ``rpc_proxy``: a pass-through in front of anvil that answers chosen methods itself. Anvil has no p2p layer: it
  does not implement ``net_peerCount`` and is never syncing, while Besu answers both (and ``txpool_besuStatistics``).
  The code under test talks real JSON-RPC to a real chain; only those node facts are staged.
* ``tm_upcheck``: a transaction manager's ``GET /upcheck``.

All listen on 127.0.0.1 at a free port and stop when their context ends.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests import standins

OLD_GENESIS_TIMESTAMP = 1_700_000_000
"""14 Nov 2023: the frozen chain's only block is years old."""


@dataclass
class ProxyControl:
    """What the proxy does right now; tests change it between requests."""

    upstream: str
    overrides: dict[str, Any] = field(default_factory=dict)
    """method -> result to answer instead of forwarding."""
    calls: list[str] = field(default_factory=list)

    def reset(self, upstream: str) -> None:
        self.upstream = upstream
        self.overrides.clear()
        self.calls.clear()


def _handler(control: ProxyControl) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = json.loads(raw)
            control.calls.append(request.get("method", ""))
            if request.get("method") in control.overrides:
                answer = {"jsonrpc": "2.0", "id": request.get("id"), "result": control.overrides[request["method"]]}
                self._send(200, json.dumps(answer).encode())
                return
            upstream = urllib.request.Request(control.upstream, data=raw, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(upstream, timeout=5) as response:
                    self._send(response.status, response.read())
            except (urllib.error.URLError, OSError):
                self._send(502, b"upstream unreachable")

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def rpc_proxy(upstream: str) -> Iterator[tuple[str, ProxyControl]]:
    """Run the proxy until the block ends; yields its URL and its control object."""
    control = ProxyControl(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(control))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="rpc-proxy", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", control
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _rpc_ok(url: str) -> bool:
    request = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=1) as response:
        return b"result" in response.read()


@contextlib.contextmanager
def anvil_chain(*extra: str) -> Iterator[str]:
    """An anvil on 127.0.0.1 with ``extra`` arguments (``tests.standins.anvil`` takes none)."""
    binary = standins.NODE_BIN / "anvil"
    port = standins.free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", "648539", "--silent", *extra]
    with standins.child(command, "anvil", lambda: _rpc_ok(url)):
        yield url


@dataclass
class TmControl:
    status: int = 200
    body: str = "I'm up!"


@contextlib.contextmanager
def tm_upcheck() -> Iterator[tuple[str, TmControl]]:
    """A transaction manager stand-in answering ``GET /upcheck`` as told."""
    control = TmControl()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            body = control.body.encode() if self.path == "/upcheck" else b"not found"
            self.send_response(control.status if self.path == "/upcheck" else 404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="tm-upcheck", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/upcheck", control
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
