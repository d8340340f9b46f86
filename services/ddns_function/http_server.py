"""On-prem adapter: the DDNS update function as a plain HTTP server (stdlib ``ThreadingHTTPServer``) or WSGI app.

In-process use (end-to-end tests of the node daemon)::

    from services.ddns_function.http_server import local_service, running
    service = local_service({"network": "net", "nodes": [{"nodeId": ..., "name": "writer-1", "role": "writer"}]},
                            "example.org", allowed_private_cidrs="127.0.0.0/8")
    with running(service) as base_url:      # http://127.0.0.1:<free port>
        ...POST f"{base_url}/v1/update"...  # then service.dns.lookup("writer-1.example.org", "A")

As a program (configuration from ``DDNS_*`` environment variables, see ``config.py``)::

    python -m services.ddns_function.http_server --host 0.0.0.0 --port 8053

Put it behind a TLS-terminating proxy when it listens beyond the host: the update is signed, but the node list is
public only as far as you publish it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lacchain.ddns.policy import DEFAULT_WINDOW_SECONDS, MemberList, PolicySettings
from lacchain.ddns.update import MAX_BODY_BYTES
from lacchain.keys import NodeKey
from services.ddns_function.core import DdnsService, EnrTreeSettings, Response, StaticKey, error
from services.ddns_function.dns_memory import MemoryDns
from services.ddns_function.members import StaticMembers
from services.ddns_function.stores import SqliteNodeStore

log = logging.getLogger("lacchain.ddns.http")

MAX_READ_BYTES = max(MAX_BODY_BYTES, 1024)
"""Bodies longer than this are refused with 413 before being read."""


def _read_limited(content_length: str | None, read: Callable[[int], bytes]) -> bytes | Response:
    """The request body, or the 4xx response for a missing/oversized one (oversized bodies are not read)."""
    if content_length is None:
        return b""
    try:
        length = int(content_length)
    except ValueError:
        return error(400, "Content-Length", "not a number")
    if length < 0:
        return error(400, "Content-Length", "negative")
    if length > MAX_READ_BYTES:
        return error(413, "body", f"{length} bytes; an update is at most {MAX_BODY_BYTES}")
    return read(length)


def make_handler(service: DdnsService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "lacchain-ddns/1"
        protocol_version = "HTTP/1.1"

        def _answer(self, method: str) -> None:
            body = _read_limited(self.headers.get("Content-Length"), self.rfile.read)
            if isinstance(body, Response):
                response = body
            else:
                response = service.handle(method, self.path, body, dict(self.headers.items()))
            payload = response.encoded() if response.has_body else b""
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.has_body:
                self.send_header("Content-Length", str(len(payload)))
            if isinstance(body, Response):
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if method != "HEAD" and payload:
                self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_HEAD(self) -> None:
            self._answer("HEAD")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_PUT(self) -> None:
            self._answer("PUT")

        def do_DELETE(self) -> None:
            self._answer("DELETE")

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def make_server(service: DdnsService, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to ``host``:``port`` (0 picks a free port: read ``server.server_address``), not yet serving."""
    server = ThreadingHTTPServer((host, port), make_handler(service))
    server.daemon_threads = True
    return server


@contextlib.contextmanager
def running(service: DdnsService, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``service`` in a background thread for the block; yields the base URL (``http://127.0.0.1:PORT``)."""
    server = make_server(service, host, port)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="ddns-http", daemon=True)
    thread.start()
    try:
        bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield f"http://{shown}:{bound_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wsgi_app(service: DdnsService) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The same function as a WSGI application (gunicorn, uWSGI, mod_wsgi)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        body = _read_limited(environ.get("CONTENT_LENGTH") or None, environ["wsgi.input"].read)
        request_headers = {
            key[5:].replace("_", "-").title(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
        }
        response = body if isinstance(body, Response) else service.handle(method, path, body, request_headers)
        payload = response.encoded() if response.has_body else b""
        reason = _REASONS.get(response.status, "")
        headers = list(response.headers.items())
        if response.has_body:
            headers.append(("Content-Length", str(len(payload))))
        start_response(f"{response.status} {reason}".strip(), headers)
        return [b"" if method == "HEAD" else payload]

    return app


_REASONS = {
    200: "OK",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def local_service(
    members: MemberList | dict[str, Any],
    zone: str,
    *,
    sqlite_path: str = ":memory:",
    tree_key: NodeKey | None = None,
    tree_domain: str | None = None,
    allowed_private_cidrs: str = "",
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    clock: Callable[[], float] | None = None,
) -> DdnsService:
    """A self-contained service for development and end-to-end tests: SQLite node table, in-process DNS
    (``service.dns`` is a ``MemoryDns`` to read back), optional ENR tree signed by ``tree_key``, no certificates.

    ``allowed_private_cidrs="127.0.0.0/8"`` lets a test node on loopback publish its address.
    """
    member_list = members if isinstance(members, MemberList) else MemberList.from_document(members)
    tree = None
    if tree_key is not None:
        tree = EnrTreeSettings(tree_domain or f"nodes.{zone}", StaticKey(tree_key))
    settings = PolicySettings(
        window_seconds=window_seconds, allowed_private_cidrs=PolicySettings.parse_cidrs(allowed_private_cidrs)
    )
    extra: dict[str, Any] = {} if clock is None else {"clock": clock}
    return DdnsService(
        zone=zone,
        store=SqliteNodeStore(sqlite_path),
        dns=MemoryDns(),
        members=StaticMembers(member_list),
        tree=tree,
        settings=settings,
        **extra,
    )


def main(argv: list[str] | None = None) -> None:
    from services.ddns_function.config import ConfigError, service_from_env

    parser = argparse.ArgumentParser(description="LACChain DDNS update function (on-prem HTTP server)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8053, help="TCP port (default 8053)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        service = service_from_env()
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    server = make_server(service, args.host, args.port)
    log.info("listening on %s:%d", *server.server_address[:2])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
