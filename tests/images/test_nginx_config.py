"""The nginx configuration from ``lacchain.nginx``: what it renders, that nginx accepts it, and that a real nginx
serving it (Debian's, on loopback) lets exactly the intended requests through to a real chain (anvil)."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from lacchain.errors import InvalidInput
from lacchain.layout import RPC_WS_PORT
from lacchain.nginx import NginxRpcProxy, render_nginx_conf
from tests import standins
from tests.images.dockerfiles import IMAGES_DIR

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CHAIN_ID = hex(648539)


def _access_rules(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith(("allow ", "deny all"))]


def _geo_allowed(text: str) -> list[str]:
    """The networks the ``geo`` block maps to 1 (checked before anything else in the server)."""
    block = text[text.index("geo $lacchain_client_allowed {") : text.index("}", text.index("geo $lacchain"))]
    lines = [line.strip() for line in block.splitlines()[1:] if line.strip()]
    assert lines[0] == "default 0;"
    return [line.removesuffix(" 1;") for line in lines[1:]]


def test_image_default_is_the_renderer_with_an_empty_allowlist() -> None:
    assert (IMAGES_DIR / "nginx/nginx.conf").read_text() == render_nginx_conf(NginxRpcProxy(allowed_cidrs=()))


def test_empty_allowlist_denies_everyone() -> None:
    text = render_nginx_conf(NginxRpcProxy(allowed_cidrs=[]))
    # The server-level rule only; no allow anywhere, no network maps to 1.
    assert _access_rules(text) == ["deny all;"]
    assert _geo_allowed(text) == []


def test_allowlist_is_normalised_and_closed_by_deny_all() -> None:
    text = render_nginx_conf(
        NginxRpcProxy(allowed_cidrs=["192.168.10.0/24", "2001:db8::/32", "10.0.0.0/8", "192.168.10.0/24"])
    )
    assert _access_rules(text)[:4] == [
        "allow 10.0.0.0/8;",
        "allow 192.168.10.0/24;",
        "allow 2001:db8::/32;",
        "deny all;",
    ]
    assert _geo_allowed(text) == ["10.0.0.0/8", "192.168.10.0/24", "2001:db8::/32"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 32)), max_size=8))
def test_every_listed_network_and_nothing_else_is_allowed(raw: list[tuple[int, int]]) -> None:
    networks = [str(ipaddress.ip_network((address, prefix), strict=False)) for address, prefix in raw]
    text = render_nginx_conf(NginxRpcProxy(allowed_cidrs=networks))
    rules = _access_rules(text)
    allowed = {rule.removeprefix("allow ").removesuffix(";") for rule in rules if rule.startswith("allow ")}
    assert allowed == set(networks)
    assert rules[len(allowed)] == "deny all;"  # right after the allows, before anything else
    assert set(_geo_allowed(text)) == set(networks)


def test_ipv6_addresses_are_bracketed() -> None:
    text = render_nginx_conf(NginxRpcProxy(allowed_cidrs=[], listen_address="::1", upstream_host="fd00::5"))
    assert "listen [::1]:443 ssl;" in text
    assert "server [fd00::5]:4545;" in text


def test_hardening_directives() -> None:
    text = render_nginx_conf(NginxRpcProxy(allowed_cidrs=["10.0.0.0/8"], max_body_size="512k"))
    for directive in (
        "server_tokens off;",
        "client_max_body_size 512k;",
        "limit_req_status 429;",
        "limit_conn_status 429;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "listen 443 ssl;",
        "server 127.0.0.1:4545;",
        "ssl_certificate /etc/nginx/tls/tls.crt;",  # where every platform mounts the node's certificate
    ):
        assert directive in text


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"allowed_cidrs": ["0.0.0.0/0"]}, "allowed_cidrs", "whole Internet"),
        ({"allowed_cidrs": ["::/0"]}, "allowed_cidrs", "whole Internet"),
        ({"allowed_cidrs": ["10.0.0.1/8"]}, "allowed_cidrs", "has host bits set"),
        ({"allowed_cidrs": ["intranet"]}, "allowed_cidrs", "is not a CIDR block"),
        ({"allowed_cidrs": "10.0.0.0/8"}, "allowed_cidrs", "not one string"),
        ({"listen_port": 0}, "listen_port", "is not a TCP port"),
        ({"burst": 0}, "burst", "at least 1"),
        ({"max_body_size": "2 MB"}, "max_body_size", "is not an nginx size"),
        ({"tls_key_file": "tls.key"}, "tls_key_file", "absolute path"),
        # Values are interpolated into nginx syntax: nothing that could end a directive.
        ({"tls_cert_file": "/x.crt; include /etc/passwd"}, "tls_cert_file", "absolute path"),
        ({"upstream_host": "besu; return 200"}, "upstream_host", "not a host name"),
        ({"listen_address": "localhost"}, "listen_address", "not an IP address"),
        ({"max_body_size": "2km"}, "max_body_size", "is not an nginx size"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(changes: dict[str, object], field: str, problem: str) -> None:
    arguments: dict[str, object] = {"allowed_cidrs": ["10.0.0.0/8"], **changes}
    with pytest.raises(InvalidInput) as caught:
        NginxRpcProxy(**arguments)  # type: ignore[arg-type]
    assert f"{field}: " in str(caught.value) and problem in str(caught.value)


# ---- a real nginx ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (ECDSA P-256, one day)."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _nginx_installed() -> None:
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: `apt-get install -y nginx-light` (CI installs it)")


def _proxy(certificate: tuple[Path, Path], workdir: Path, **changes: object) -> NginxRpcProxy:
    base = NginxRpcProxy(
        allowed_cidrs=["127.0.0.1/32"],
        tls_cert_file=str(certificate[0]),
        tls_key_file=str(certificate[1]),
        listen_address="127.0.0.1",
        listen_port=standins.free_port(),
        runtime_dir=str(workdir),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _write(proxy: NginxRpcProxy, workdir: Path) -> Path:
    conf = workdir / "nginx.conf"
    conf.write_text(render_nginx_conf(proxy))
    return conf


def test_nginx_accepts_the_configuration(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    _nginx_installed()
    conf = _write(_proxy(certificate, tmp_path, allowed_cidrs=["10.0.0.0/8", "2001:db8::/32"]), tmp_path)
    result = subprocess.run(
        [NGINX, "-t", "-q", "-c", str(conf), "-p", str(tmp_path), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def _port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


@contextlib.contextmanager
def serving(proxy: NginxRpcProxy, workdir: Path) -> Iterator[str]:
    """nginx in the foreground with ``proxy``'s configuration until the block ends; yields its https URL."""
    _nginx_installed()
    conf = _write(proxy, workdir)
    command = [NGINX, "-c", str(conf), "-p", str(workdir), "-e", "stderr", "-g", "daemon off;"]
    with standins.child(command, "nginx", lambda: _port_open(proxy.listen_port)):
        yield f"https://127.0.0.1:{proxy.listen_port}"


def _client(certificate: tuple[Path, Path]) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(certificate[0])), timeout=5)


def _call(client: httpx.Client, url: str, method: str = "eth_chainId") -> httpx.Response:
    return client.post(url + "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []})


def _ws_call(url: str, certificate: tuple[Path, Path]) -> str:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    with connect(url.replace("https://", "wss://") + "/", ssl=context, open_timeout=5) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []}))
        return str(json.loads(ws.recv(timeout=5))["result"])


def _anvil_port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.slow
def test_json_rpc_over_https_reaches_besu_http_port_only(
    anvil_url: str, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    proxy = _proxy(certificate, tmp_path, rpc_http_port=_anvil_port(anvil_url))
    with serving(proxy, tmp_path) as url, _client(certificate) as client:
        response = _call(client, url)
        assert response.status_code == 200
        assert response.json()["result"] == CHAIN_ID
        assert response.headers["server"] == "nginx"  # no version


@pytest.mark.slow
def test_websocket_handshakes_are_refused(anvil_url: str, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    """Besu's WS endpoint carries the admin API for the node's sidecars: nginx never publishes it."""
    proxy = _proxy(certificate, tmp_path, rpc_http_port=_anvil_port(anvil_url))
    with serving(proxy, tmp_path) as url:
        with pytest.raises(InvalidStatus) as refused:
            _ws_call(url, certificate)
        assert refused.value.response.status_code == 405
    assert f":{RPC_WS_PORT}" not in render_nginx_conf(proxy)


@pytest.mark.slow
def test_only_json_rpc_requests_are_proxied(anvil_url: str, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    port = _anvil_port(anvil_url)
    proxy = _proxy(certificate, tmp_path, rpc_http_port=port, max_body_size="1k")
    with serving(proxy, tmp_path) as url, _client(certificate) as client:
        assert client.get(url + "/").status_code == 405  # GET without an upgrade
        assert client.put(url + "/", content=b"{}").status_code == 405
        assert client.get(url + "/liveness").status_code == 404  # Besu's own paths stay private
        assert client.post(url + "/metrics", content=b"{}").status_code == 404
        big = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": ["x" * 4096]}
        assert client.post(url + "/", json=big).status_code == 413


@pytest.mark.slow
def test_sources_outside_the_allowlist_are_refused(
    anvil_url: str, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    port = _anvil_port(anvil_url)
    proxy = _proxy(certificate, tmp_path, allowed_cidrs=["10.0.0.0/8"], rpc_http_port=port)
    with serving(proxy, tmp_path) as url, _client(certificate) as client:
        assert _call(client, url).status_code == 403
        # Whatever they ask: no method or path check answers first.
        assert client.get(url + "/").status_code == 403
        assert client.get(url + "/liveness").status_code == 403
        with pytest.raises(InvalidStatus) as refused:
            _ws_call(url, certificate)
        assert refused.value.response.status_code == 403


@pytest.mark.slow
def test_bursts_above_the_rate_limit_get_429(anvil_url: str, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    port = _anvil_port(anvil_url)
    proxy = _proxy(certificate, tmp_path, requests_per_second=1, burst=2, rpc_http_port=port)
    with serving(proxy, tmp_path) as url, _client(certificate) as client:
        statuses = [_call(client, url).status_code for _ in range(10)]
    assert statuses[:3] == [200, 200, 200]  # the first request plus a burst of 2
    assert 429 in statuses[3:]


# ---- the node's own configuration, as each platform mounts it --------------------------------------------------


def _directive(text: str, name: str) -> list[str]:
    return [
        line.strip().removeprefix(name).strip().rstrip(";")
        for line in text.splitlines()
        if line.strip().startswith(name + " ")
    ]


def _paths_used(text: str) -> dict[str, str]:
    """Every file path the configuration makes nginx read or write, by directive."""
    names = ("pid", "ssl_certificate", "ssl_certificate_key", "client_body_temp_path", "proxy_temp_path")
    return {name: _directive(text, name)[0] for name in names}


def test_the_pod_mounts_what_its_plan_config_uses() -> None:
    from lacchain import kubernetes as pod
    from lacchain.network_plan import nginx_conf
    from lacchain.roles import Platform, TransactionManager
    from tests.services.keyagent.test_keyagent_wiring import pod_spec, writer

    text = nginx_conf(("10.0.0.0/8",), Platform.KUBERNETES)
    spec = pod_spec(writer(TransactionManager.TESSERA, rpc_tls=pod.RpcTlsSource.SELF_SIGNED))
    (container,) = [c for c in spec["containers"] if c["name"] == "nginx"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    (port,) = container["ports"]
    assert _directive(text, "listen") == [f"{port['containerPort']} ssl"] and port["containerPort"] > 1023
    used = _paths_used(text)
    for directive, path in used.items():
        mount = next(m for at, m in mounts.items() if Path(path).is_relative_to(at))
        writable = directive not in ("ssl_certificate", "ssl_certificate_key")
        assert bool(mount.get("readOnly")) is not writable, directive
        if writable:
            assert "emptyDir" in volumes[mount["name"]]  # the read-only root stays read-only
        else:
            assert mount["name"] == "rpc-tls"
    assert mounts["/etc/nginx/nginx.conf"]["subPath"] == "nginx.conf"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # clients still use 443: the Service maps it to the container port by name, the NetworkPolicy admits the pod port
    service = pod.rpc_service(writer(TransactionManager.TESSERA))
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": port["name"], "protocol": "TCP"}]
    from lacchain.roles import Role

    policy = pod.network_policy(pod.RolePolicy("acme", "lacchain", Role.WRITER, rpc_cidrs=["10.0.0.0/8"]))
    rpc_rule = next(r for r in policy["spec"]["ingress"] if {"ipBlock": {"cidr": "10.0.0.0/8"}} in r["from"])
    assert rpc_rule["ports"] == [{"port": port["containerPort"], "protocol": "TCP"}]


def test_the_vm_binds_what_its_plan_config_uses() -> None:
    from lacchain import vm
    from lacchain.network_plan import nginx_conf
    from lacchain.roles import Platform, TransactionManager
    from tests.services.keyagent.test_keyagent_wiring import vm_writer

    text = nginx_conf(("10.0.0.0/8",), Platform.AWS)
    (container,) = [c for c in vm.containers(vm_writer(Platform.AWS, TransactionManager.TESSERA)) if c.name == "nginx"]
    assert _directive(text, "listen") == ["443 ssl"]  # the host lets uid 1000 bind it (sysctl in the boot files)
    binds = {b.target: b for b in container.binds}
    for directive, path in _paths_used(text).items():
        if directive.startswith("ssl_"):
            bind = next(b for at, b in binds.items() if Path(path).is_relative_to(at))
            assert bind.source == vm.RPC_TLS_DIR and bind.read_only  # lacchain-rpc-tls fills it at boot
        else:
            assert any(Path(path).is_relative_to(t) for t in container.tmpfs), directive


@pytest.mark.slow
def test_nginx_serves_the_pods_config_with_the_init_steps_certificate(tmp_path: Path) -> None:
    """The plan's Kubernetes nginx.conf, moved to scratch paths, run by a real nginx with a pair made by the key
    agent's ``rpc-tls`` command: nginx loads the PKCS#8 ECDSA key and a client verifies the certificate."""
    from lacchain import nginx as rpc_proxy
    from lacchain.network_plan import nginx_conf
    from lacchain.roles import Platform
    from services.keyagent.rpc_tls import self_signed

    _nginx_installed()
    certificate, key = self_signed(["localhost"], ["127.0.0.1"])
    tls, run = tmp_path / "tls", tmp_path / "run"
    tls.mkdir()
    run.mkdir()
    (tls / "tls.crt").write_text(certificate)
    (tls / "tls.key").write_text(key)
    port = standins.free_port()
    text = nginx_conf(("127.0.0.1/32",), Platform.KUBERNETES)
    text = text.replace(rpc_proxy.TLS_DIR, str(tls)).replace(rpc_proxy.RUNTIME_DIR, str(run))
    text = text.replace(f"listen {rpc_proxy.UNPRIVILEGED_HTTPS_PORT} ssl;", f"listen 127.0.0.1:{port} ssl;")
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    command = [NGINX, "-c", str(conf), "-p", str(tmp_path), "-e", "stderr", "-g", "daemon off;"]
    with standins.child(command, "nginx", lambda: _port_open(port)):
        context = ssl.create_default_context(cafile=str(tls / "tls.crt"))
        with httpx.Client(verify=context, timeout=5) as client:
            assert client.get(f"https://127.0.0.1:{port}/").status_code == 405  # allowed client, not a POST
            assert client.get(f"https://localhost:{port}/liveness").status_code == 404
