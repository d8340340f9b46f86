"""The nginx configuration that fronts a node's Besu RPC: TLS, an allowlist of client networks, and abuse limits.

Besu's JSON-RPC has no authentication of its own in LACChain's setup, so nginx is the only gate between the
Internet and ``eth_sendRawTransaction``. The gate is closed by default: only the member's listed networks
(``rpcAllowedCidrs``) get through, every other client is answered 403 whatever it asks (a ``geo`` check runs
first in the server, and the same list is enforced again as ``allow``/``deny all``); an empty list lets nobody
in. Request bodies, request rates and concurrent connections per client are capped so one client cannot
starve the node, and nginx does not advertise its version.

Only JSON-RPC over HTTP is proxied (POST to Besu's 4545; other methods, WebSocket handshakes included, get 405).
Besu's WebSocket endpoint (4546) is deliberately not published: it is bound to loopback and carries the ADMIN
and PERM APIs the node's own sidecars use (the DDNS daemon adds and removes peers through it), and Besu cannot
serve a public and an administrative API set on the same endpoint. Besu's other paths (``/liveness``,
``/readiness``) are not exposed either.

The renderer is pure: it returns the complete ``nginx.conf`` text and touches nothing. The member plan
(``lacchain.network_plan``) renders one per RPC-serving node as one of its own files, and every platform mounts it
at ``/etc/nginx/nginx.conf``, the stock location, so the official nginx image and ours (``images/nginx``) read it
alike. What differs between platforms is only the port nginx binds (``listen_port``): the container shares the
pod's or the VM's network, runs unprivileged with every capability dropped, and on Kubernetes therefore binds an
unprivileged port (the rpc Service maps 443 to it by name); a VM lets the node's uid bind 443 instead
(``net.ipv4.ip_unprivileged_port_start``). The certificate is at ``TLS_DIR`` in the container on both, and the
runtime files on a writable memory volume at ``RUNTIME_DIR``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lacchain.errors import FieldProblem, InvalidInput
from lacchain.layout import NGINX_HTTPS_PORT, RPC_HTTP_PORT
from lacchain.roles import Platform

NGINX_CONFIG_FILE = "/etc/nginx/nginx.conf"
"""Where nginx reads this configuration in its container (the official image's location)."""
TLS_DIR = "/etc/nginx/tls"
"""Where the container sees its certificate: the node's ``<member>-<node>-rpc-tls`` Secret (cert-manager), a
memory volume a pod init step fills with a self-signed pair, or on a VM the host's tmpfs directory
``lacchain.vm.RPC_TLS_DIR``. The file names are those of a ``kubernetes.io/tls`` Secret."""
TLS_CERT_FILE = f"{TLS_DIR}/tls.crt"
"""PEM certificate chain nginx serves."""
TLS_KEY_FILE = f"{TLS_DIR}/tls.key"
"""PEM private key of ``TLS_CERT_FILE``; only ever on a memory-backed volume."""
UNPRIVILEGED_HTTPS_PORT = 8443
"""Where nginx listens in a Kubernetes pod: containers there run as a non-root uid with every capability dropped,
which cannot bind ports below 1024. A port above 1023 needs nothing from the cluster (no NET_BIND_SERVICE, no pod
sysctl that a cluster's policy may refuse). The rpc Service still offers ``layout.NGINX_HTTPS_PORT`` to clients and
targets this port by its name."""
RUNTIME_DIR = "/var/run/nginx"
"""Writable directory for the pid file and request buffers: a memory volume (emptyDir, tmpfs) in deployments, so
the root filesystem can stay read-only; our image creates it for runs without one."""

_SIZE = re.compile(r"^[1-9][0-9]*[km]?$")
_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class NginxRpcProxy:
    """What varies between nodes' nginx configurations. Defaults are LACChain's ports and our file layout."""

    allowed_cidrs: Sequence[str]
    """Client networks allowed to use RPC. Empty means nobody (nginx still starts and answers 403)."""
    tls_cert_file: str = TLS_CERT_FILE
    tls_key_file: str = TLS_KEY_FILE
    upstream_host: str = "127.0.0.1"
    """Where Besu listens, seen from nginx: loopback in a Kubernetes pod, the Besu container's name on a VM."""
    rpc_http_port: int = RPC_HTTP_PORT
    listen_address: str = ""
    """Empty listens on every address; tests bind 127.0.0.1."""
    listen_port: int = NGINX_HTTPS_PORT
    max_body_size: str = "2m"
    """Largest JSON-RPC request body. A raw transaction deploying a large contract is the biggest legitimate one;
    nginx answers 413 above this, before Besu parses anything."""
    requests_per_second: int = 50
    """Sustained request rate per client address; bursts above it are answered 429."""
    burst: int = 100
    max_connections_per_client: int = 20
    """Concurrent connections per client address."""
    runtime_dir: str = RUNTIME_DIR

    def __post_init__(self) -> None:
        problems = [*_cidr_problems(self.allowed_cidrs)]
        for name in ("rpc_http_port", "listen_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                problems.append((name, f"{port} is not a TCP port (1-65535)"))
        for name in ("requests_per_second", "burst", "max_connections_per_client"):
            if getattr(self, name) < 1:
                problems.append((name, "must be at least 1"))
        if not _SIZE.match(self.max_body_size):
            problems.append(("max_body_size", f"{self.max_body_size!r} is not an nginx size such as '2m' or '512k'"))
        for name in ("tls_cert_file", "tls_key_file", "runtime_dir"):
            value = getattr(self, name)
            if not _PATH.match(value):
                problems.append((name, f"{value!r} must be an absolute path without spaces, quotes or ';'"))
        # Interpolated into nginx syntax: only plain host names and addresses, never a ';' or a brace.
        if not (_HOST.match(self.upstream_host) or _is_ip(self.upstream_host)):
            problems.append(("upstream_host", f"{self.upstream_host!r} is not a host name or IP address"))
        if self.listen_address and not _is_ip(self.listen_address):
            problems.append(("listen_address", f"{self.listen_address!r} is not an IP address"))
        if problems:
            raise InvalidInput([FieldProblem(field, problem) for field, problem in problems], "nginx configuration")


def listen_port(platform: Platform) -> int:
    """The port nginx binds on ``platform`` (see the module docstring): 8443 in a pod, 443 on a VM."""
    return UNPRIVILEGED_HTTPS_PORT if platform is Platform.KUBERNETES else NGINX_HTTPS_PORT


def _cidr_problems(cidrs: Sequence[str]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if isinstance(cidrs, str):
        return [("allowed_cidrs", "must be a list of CIDR blocks, not one string")]
    for value in cidrs:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            problems.append(("allowed_cidrs", f"{value!r} is not a CIDR block ({exc})"))
            continue
        if network.prefixlen == 0:
            problems.append(("allowed_cidrs", f"{value!r} opens RPC to the whole Internet; list client networks"))
    return problems


def _address(host: str, port: int) -> str:
    """``host:port`` in nginx syntax (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _networks(cidrs: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    # Normalised and de-duplicated so the rendered file is stable whatever order the stack lists them in.
    return sorted({ipaddress.ip_network(c, strict=True) for c in cidrs}, key=lambda n: (n.version, n))


def _geo_entries(cidrs: Sequence[str]) -> str:
    return "".join(f"\n        {network} 1;" for network in _networks(cidrs))


def _access_rules(cidrs: Sequence[str]) -> str:
    lines = [f"allow {network};" for network in _networks(cidrs)]
    lines.append("deny all;")
    return "\n".join(f"        {line}" for line in lines)


def render_nginx_conf(proxy: NginxRpcProxy) -> str:
    """The complete ``nginx.conf`` for ``proxy`` (pure; same input, same text)."""
    listen = _address(proxy.listen_address, proxy.listen_port) if proxy.listen_address else str(proxy.listen_port)
    run = proxy.runtime_dir.rstrip("/")
    return f"""\
# Rendered by lacchain.nginx from the member's stack config; edit the stack, not this file.
worker_processes auto;
pid {run}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    server_tokens off;
    access_log /dev/stdout;
    default_type application/json;

    client_body_temp_path {run}/client_temp;
    proxy_temp_path {run}/proxy_temp;
    fastcgi_temp_path {run}/fastcgi_temp;
    uwsgi_temp_path {run}/uwsgi_temp;
    scgi_temp_path {run}/scgi_temp;

    # Slow or oversized clients are cut off before they tie up Besu.
    client_max_body_size {proxy.max_body_size};
    client_body_buffer_size 128k;
    client_header_buffer_size 1k;
    large_client_header_buffers 4 8k;
    client_body_timeout 10s;
    client_header_timeout 10s;
    send_timeout 30s;
    keepalive_timeout 30s;

    # 1 for the member's client networks. Checked first in the server, so any other client gets 403 whatever
    # it asks; the same list is enforced again by allow/deny in the access phase.
    geo $lacchain_client_allowed {{
        default 0;{_geo_entries(proxy.allowed_cidrs)}
    }}

    limit_req_zone $binary_remote_addr zone=rpc_rate:10m rate={proxy.requests_per_second}r/s;
    limit_req_status 429;
    limit_conn_zone $binary_remote_addr zone=rpc_conn:10m;
    limit_conn_status 429;

    upstream besu_rpc_http {{
        server {_address(proxy.upstream_host, proxy.rpc_http_port)};
        keepalive 16;
    }}

    server {{
        listen {listen} ssl;
        server_name _;

        ssl_certificate {proxy.tls_cert_file};
        ssl_certificate_key {proxy.tls_key_file};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:TLS:10m;
        ssl_session_timeout 1h;
        ssl_session_tickets off;

        add_header Strict-Transport-Security "max-age=63072000" always;
        add_header X-Content-Type-Options nosniff always;

        # Only the member's client networks; everyone else gets 403.
        if ($lacchain_client_allowed = 0) {{
            return 403;
        }}
{_access_rules(proxy.allowed_cidrs)}

        limit_req zone=rpc_rate burst={proxy.burst} nodelay;
        limit_conn rpc_conn {proxy.max_connections_per_client};

        location = / {{
            # JSON-RPC is POST only (a WebSocket handshake is a GET, so it is refused here too).
            if ($request_method != POST) {{
                return 405;
            }}
            proxy_pass http://besu_rpc_http;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_connect_timeout 5s;
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
        }}

        # Besu's other HTTP paths (/liveness, /readiness, /metrics) stay private to the node.
        location / {{
            return 404;
        }}
    }}
}}
"""
