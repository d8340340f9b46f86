"""Enode URLs: parse, format, and encode for Besu's node permissioning contracts.

Format: ``enode://<node id: 128 hex>@<host>:<tcp port>[?discport=<udp port>]``. The host is an IPv4 address, an
IPv6 address in brackets, or (with Besu's ``--Xdns-enabled``) a DNS name. ``discport`` is only written when the
UDP discovery port differs from the TCP port, as Besu does, so formatting a parsed URL gives the canonical form.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from lacchain.errors import LacchainError

NODE_ID = re.compile(r"^[0-9a-f]{128}$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")


class EnodeError(LacchainError, ValueError):
    """A malformed enode URL; the message says which part is wrong and what it should look like."""


@dataclass(frozen=True)
class Enode:
    """A parsed enode URL. ``host`` is stored without brackets; ``discport`` equals ``port`` by default."""

    node_id: str
    host: str
    port: int
    discport: int

    def __post_init__(self) -> None:
        if not NODE_ID.match(self.node_id):
            raise EnodeError(
                f"node id must be 128 lower-case hex digits (the public key without 0x04), got {len(self.node_id)} chars"
            )
        for label, value in (("port", self.port), ("discport", self.discport)):
            if not 0 <= value <= 65535:
                raise EnodeError(f"{label} {value} is outside 0-65535")
        if self.port == 0:
            raise EnodeError("TCP port 0: a listening node needs a real port (LACChain uses 60606)")
        _check_host(self.host)

    @classmethod
    def of(cls, node_id: str, host: str, port: int, discport: int | None = None) -> Enode:
        return cls(node_id.lower().removeprefix("0x"), host.lower(), port, port if discport is None else discport)

    @classmethod
    def parse(cls, url: str) -> Enode:
        """Parse an enode URL; raises ``EnodeError`` naming the wrong part."""
        text = url.strip()
        if not text.startswith("enode://"):
            raise EnodeError(f"{_short(text)!r} is not an enode URL; expected enode://<128 hex>@<host>:<port>")
        parts = urlsplit(text)
        if parts.username is None or "@" not in parts.netloc:
            raise EnodeError(f"{_short(text)!r} has no node id; expected enode://<128 hex>@<host>:<port>")
        if parts.password is not None or parts.path not in ("", "/") or parts.fragment:
            raise EnodeError(f"{_short(text)!r} has extra parts; expected enode://<128 hex>@<host>:<port>")
        node_id = parts.username.lower()
        if not NODE_ID.match(node_id):
            raise EnodeError(f"node id in {_short(text)!r} must be 128 hex digits, got {len(node_id)}")
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            raise EnodeError(f"{_short(text)!r} has an invalid port; expected a number 1-65535") from None
        if not host:
            raise EnodeError(f"{_short(text)!r} has no host")
        if port is None:
            raise EnodeError(f"{_short(text)!r} has no port; add ':<port>' (LACChain uses 60606)")
        discport = port
        if parts.query:
            query = parse_qs(parts.query, strict_parsing=False, keep_blank_values=True)
            unknown = set(query) - {"discport"}
            if unknown:
                raise EnodeError(f"unknown enode query parameter {sorted(unknown)[0]!r}; only 'discport' is allowed")
            values = query.get("discport", [])
            if len(values) != 1 or not values[0].isdigit():
                raise EnodeError("discport must be one number 0-65535")
            discport = int(values[0])
        return cls(node_id, host.lower(), port, discport)

    @property
    def host_kind(self) -> str:
        """'ipv4', 'ipv6' or 'dns'."""
        try:
            return "ipv4" if ipaddress.ip_address(self.host).version == 4 else "ipv6"
        except ValueError:
            return "dns"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if self.host_kind == "ipv6" else self.host
        query = "" if self.discport == self.port else f"?discport={self.discport}"
        return f"enode://{self.node_id}@{host}:{self.port}{query}"

    def __str__(self) -> str:
        return self.url

    def with_host(self, host: str, port: int | None = None) -> Enode:
        """The same node at another address (DDNS updates)."""
        new_port = self.port if port is None else port
        discport = new_port if self.discport == self.port else self.discport
        return Enode.of(self.node_id, host, new_port, discport)

    def permissioning_v1(self) -> tuple[bytes, bytes, bytes, int]:
        """Arguments of Besu's node permissioning interface v1: (enodeHigh, enodeLow, bytes16 ip, uint16 port).

        IPv4 addresses are sent as IPv4-mapped IPv6 (``::ffff:a.b.c.d``), as Besu does. DNS hosts cannot be
        encoded in v1: resolve them first or use interface v2.
        """
        raw = bytes.fromhex(self.node_id)
        kind = self.host_kind
        if kind == "dns":
            raise EnodeError(
                f"host {self.host!r} is a DNS name; permissioning interface v1 takes a 16-byte IP. "
                "Use --permissions-nodes-contract-version=2 or an IP address"
            )
        address = ipaddress.ip_address(self.host)
        if isinstance(address, ipaddress.IPv4Address):
            address = ipaddress.IPv6Address(b"\x00" * 10 + b"\xff\xff" + address.packed)
        return raw[:32], raw[32:], address.packed, self.port

    def permissioning_v2(self) -> tuple[str, str, int]:
        """Arguments of Besu's interface v2 ``connectionAllowed(string enodeId, string host, uint16 port)``:
        the node id as 128 unprefixed hex digits, the host as text (IP or DNS name), the TCP port."""
        return self.node_id, self.host, self.port


def enode_from_v1(high: bytes, low: bytes, ip16: bytes, port: int) -> Enode:
    """Decode permissioning-v1 arguments (e.g. entries read from an old contract, for migration)."""
    if len(high) != 32 or len(low) != 32 or len(ip16) != 16:
        raise EnodeError("v1 enode needs bytes32 high, bytes32 low and bytes16 ip")
    address = ipaddress.IPv6Address(ip16)
    host = str(address.ipv4_mapped) if address.ipv4_mapped else str(address)
    return Enode.of((high + low).hex(), host, port)


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not HOSTNAME.match(host) or host.replace(".", "").isdigit():
        raise EnodeError(f"host {host!r} is neither an IP address nor a DNS name")


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
