"""Fixtures of the DDNS function tests: a real BIND 9 primary server for RFC 2136 (TSIG) updates."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import pytest

from services.ddns_function.dns_backends import TsigKey
from tests import standins

BIND_ZONE = "lacchain.example.org"
NAMED = shutil.which("named") or "/usr/sbin/named"


@dataclass(frozen=True)
class Bind:
    host: str
    port: int
    zone: str
    key: TsigKey
    directory: Path


def _named_conf(directory: Path, port: int, key: TsigKey, zone: str) -> str:
    return f"""
options {{
    directory "{directory}";
    pid-file "{directory}/named.pid";
    session-keyfile "{directory}/session.key";
    managed-keys-directory "{directory}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-query {{ any; }};
    allow-transfer {{ none; }};
    dnssec-validation no;
    notify no;
}};
controls {{ }};
key "{key.name}" {{
    algorithm {key.algorithm};
    secret "{key.secret}";
}};
zone "{zone}" {{
    type primary;
    file "{directory}/{zone}.zone";
    update-policy {{ grant {key.name} subdomain {zone}. ANY; }};
    allow-transfer {{ key {key.name}; }};
}};
"""


def _zone_file(zone: str) -> str:
    return f"""$TTL 60
@   IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60
@   IN NS  ns1.{zone}.
ns1 IN A   127.0.0.1
"""


def _answers(port: int, zone: str) -> bool:
    response = dns.query.tcp(dns.message.make_query(zone, "SOA"), "127.0.0.1", port=port, timeout=1)
    return bool(response.answer)


@contextlib.contextmanager
def bind_server() -> Iterator[Bind]:
    """A BIND 9 primary for ``lacchain.example.org`` on 127.0.0.1 and a free port, with an hmac-sha256 TSIG key
    allowed to update and transfer the zone; its directory is temporary and it stops when the block ends."""
    if not Path(NAMED).exists():
        raise RuntimeError("BIND 9 is not installed: apt-get install bind9 (the project's CI installs it)")
    directory = Path(tempfile.mkdtemp(prefix="ddns-bind-"))
    port = standins.free_port()
    key = TsigKey("ddns-key.", base64.b64encode(secrets.token_bytes(32)).decode())
    (directory / "named.conf").write_text(_named_conf(directory, port, key, BIND_ZONE))
    (directory / f"{BIND_ZONE}.zone").write_text(_zone_file(BIND_ZONE))
    command = [NAMED, "-g", "-4", "-c", str(directory / "named.conf")]
    if os.geteuid() == 0:
        command += ["-u", "root"]
    try:
        with standins.child(command, "named", lambda: _answers(port, BIND_ZONE), cwd=directory):
            yield Bind("127.0.0.1", port, BIND_ZONE, key, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def bind() -> Iterator[Bind]:
    """The session's BIND 9 server (``bind_server``); tests use their own names under its zone."""
    with bind_server() as server:
        yield server
