"""Which verified address updates the DDNS function applies, and which it refuses (pure: no I/O, no clock).

``decide`` takes an update whose signature was already checked (``SignedUpdate.verify``), what the function knows
(the node's stored record, the network's member list, the time) and the settings, and returns either the
``Decision`` to apply or raises ``UpdateRejected`` with the field at fault and the HTTP status to answer:

* 403: the update names another network, or a node id that is not a member of the network;
* 409: the sequence is not greater than the stored one (a replay), or the timestamp is older than the window;
* 400: the timestamp is further in the future than the window (the node's clock is wrong);
* 422: the host is not a public unicast IP address (unless inside a configured on-prem CIDR), or the port is outside
  the allowed range.

The DNS label of a node comes from the member list (its name), never from the request, so a node can only move its
own name.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lacchain.ddns.update import AddressUpdate, UpdateRejected
from lacchain.enode import NODE_ID
from lacchain.errors import FieldProblem, InvalidInput

DNS_LABEL_MAX = 63
DEFAULT_WINDOW_SECONDS = 300
DEFAULT_PORT_RANGE = (1024, 65535)
TM_ROLES = frozenset({"writer"})
"""Roles that run a private transaction manager by default (LACChain writers run Orion/Tessera)."""

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Member:
    """One node of the network as the member stacks declared it."""

    node_id: str
    name: str
    """DNS label of the node: its record is ``<name>.<zone>``."""
    role: str
    transaction_manager: bool = False
    """Whether the node runs a transaction manager whose TLS certificate follows its address."""


@dataclass(frozen=True)
class MemberList:
    """The nodes that belong to a network, by node id. Built from the JSON document the member stacks publish."""

    network: str
    members: Mapping[str, Member]

    def get(self, node_id: str) -> Member | None:
        return self.members.get(node_id)

    def __iter__(self) -> Any:
        return iter(sorted(self.members.values(), key=lambda m: m.name))

    def __len__(self) -> int:
        return len(self.members)

    @classmethod
    def from_document(cls, document: Any, source: str = "member list") -> MemberList:
        """Parse ``{"network": "...", "nodes": [{"nodeId", "name", "role", "transactionManager"?}, ...]}``.

        Every problem is reported at once (``InvalidInput``): node ids must be 128 lower-case hex digits, names DNS
        labels, both unique.
        """
        problems: list[FieldProblem] = []
        if not isinstance(document, dict):
            raise InvalidInput.single("(document)", "must be a JSON object", '{"network": ..., "nodes": [...]}', source)
        network = document.get("network")
        if not isinstance(network, str) or not network:
            problems.append(FieldProblem("network", "required: the network's name", 'e.g. "pro-testnet"'))
        nodes = document.get("nodes")
        if not isinstance(nodes, list):
            problems.append(FieldProblem("nodes", "required: a list of the network's nodes"))
            nodes = []
        unknown_top = sorted(set(document) - {"network", "nodes"})
        for key in unknown_top:
            problems.append(FieldProblem(key, "unknown key", "only 'network' and 'nodes' are read"))
        members: dict[str, Member] = {}
        names: set[str] = set()
        for index, entry in enumerate(nodes):
            where = f"nodes[{index}]"
            if not isinstance(entry, dict):
                problems.append(FieldProblem(where, "must be an object"))
                continue
            node_id = entry.get("nodeId")
            name = entry.get("name")
            role = entry.get("role")
            tm = entry.get("transactionManager", role in TM_ROLES)
            extra = sorted(set(entry) - {"nodeId", "name", "role", "transactionManager"})
            for key in extra:
                problems.append(FieldProblem(f"{where}.{key}", "unknown key"))
            if not isinstance(node_id, str) or not NODE_ID.match(node_id):
                problems.append(FieldProblem(f"{where}.nodeId", "must be 128 lower-case hex digits"))
                continue
            if not isinstance(name, str) or not is_dns_label(name):
                problems.append(
                    FieldProblem(f"{where}.name", f"{name!r} is not a DNS label", "1-63 of a-z, 0-9 and '-'")
                )
                continue
            if not isinstance(role, str) or not role:
                problems.append(FieldProblem(f"{where}.role", "required: validator, boot, writer or observer"))
                continue
            if not isinstance(tm, bool):
                problems.append(FieldProblem(f"{where}.transactionManager", "must be true or false"))
                continue
            if node_id in members:
                problems.append(FieldProblem(f"{where}.nodeId", "listed twice"))
                continue
            if name in names:
                problems.append(FieldProblem(f"{where}.name", f"{name!r} is used by another node"))
                continue
            names.add(name)
            members[node_id] = Member(node_id, name, role, tm)
        if problems:
            raise InvalidInput(problems, source)
        assert isinstance(network, str)
        return cls(network, members)

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "member list") -> MemberList:
        try:
            document = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput.single("(document)", f"not JSON ({exc})", source=source) from None
        return cls.from_document(document, source)


@dataclass(frozen=True)
class StoredNode:
    """What the node table holds for one node (the last accepted update)."""

    node_id: str
    name: str
    role: str
    host: str
    port: int
    sequence: int
    updated_at: int
    """Unix time the update was accepted (the function's clock, not the node's)."""
    enr: str | None = None
    """The node's own signed ENR (``enr:...``), when it sent one; leaves of the EIP-1459 tree."""

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "name": self.name,
            "role": self.role,
            "host": self.host,
            "port": self.port,
            "sequence": self.sequence,
            "updatedAt": self.updated_at,
        }


@dataclass(frozen=True)
class PolicySettings:
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    """How far the update's timestamp may be from the function's clock, either way."""
    allowed_private_cidrs: tuple[IpNetwork, ...] = ()
    """Non-public ranges accepted anyway (on-prem networks), e.g. ``10.20.0.0/16``."""
    port_range: tuple[int, int] = DEFAULT_PORT_RANGE

    def __post_init__(self) -> None:
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        low, high = self.port_range
        if not 1 <= low <= high <= 65535:
            raise ValueError("port_range must be (low, high) with 1 <= low <= high <= 65535")

    @staticmethod
    def parse_cidrs(text: str | Iterable[str]) -> tuple[IpNetwork, ...]:
        """Comma- or space-separated CIDRs (``10.0.0.0/8, fd00::/8``); raises ``ValueError`` naming the bad one."""
        items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
        networks: list[IpNetwork] = []
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=True))
            except ValueError as exc:
                raise ValueError(f"{item!r} is not a CIDR ({exc})") from None
        return tuple(networks)


@dataclass(frozen=True)
class Decision:
    """An accepted update: what to write where."""

    member: Member
    host: str
    """Canonical text of the address (IPv6 compressed, lower case)."""
    port: int
    sequence: int
    record_type: str
    """``A`` or ``AAAA``."""
    host_changed: bool
    """Whether the address differs from the stored one (the TLS certificate is only reissued then)."""

    @property
    def label(self) -> str:
        return self.member.name


def is_dns_label(text: str) -> bool:
    if not 1 <= len(text) <= DNS_LABEL_MAX:
        return False
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
    return set(text) <= allowed and text[0] != "-" and text[-1] != "-"


def decide(
    update: AddressUpdate,
    stored: StoredNode | None,
    members: MemberList,
    now: int,
    settings: PolicySettings | None = None,
) -> Decision:
    """Accept ``update`` (a ``Decision``) or raise ``UpdateRejected``; checks run cheapest and most telling first."""
    settings = settings or PolicySettings()
    if update.network != members.network:
        raise UpdateRejected("update.network", f"this function serves network {members.network!r}", 403)
    member = members.get(update.node_id)
    if member is None:
        raise UpdateRejected("update.nodeId", "not a node of this network", 403)
    if stored is not None and update.sequence <= stored.sequence:
        raise UpdateRejected(
            "update.sequence", f"must be greater than {stored.sequence}, the last accepted (replay or stale)", 409
        )
    age = now - update.timestamp
    if age > settings.window_seconds:
        raise UpdateRejected(
            "update.timestamp", f"{age} s old; updates older than {settings.window_seconds} s are refused", 409
        )
    if -age > settings.window_seconds:
        raise UpdateRejected(
            "update.timestamp",
            f"{-age} s in the future; more than {settings.window_seconds} s ahead is refused (check the node's clock)",
            400,
        )
    address = check_host(update.host, settings.allowed_private_cidrs)
    low, high = settings.port_range
    if not low <= update.port <= high:
        raise UpdateRejected("update.port", f"{update.port} is outside the allowed range {low}-{high}", 422)
    host = str(address)
    return Decision(
        member=member,
        host=host,
        port=update.port,
        sequence=update.sequence,
        record_type="A" if address.version == 4 else "AAAA",
        host_changed=stored is None or stored.host != host,
    )


def check_host(host: str, allowed_private_cidrs: Iterable[IpNetwork] = ()) -> IpAddress:
    """The address if it is a public unicast IP (or inside an allowed on-prem CIDR); ``UpdateRejected`` (422) if not."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UpdateRejected("update.host", f"{_short(host)!r} is not an IPv4 or IPv6 address", 422) from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            raise UpdateRejected("update.host", "IPv4-mapped IPv6 address; send the IPv4 form", 422)
        if address.scope_id is not None:
            raise UpdateRejected("update.host", "an address with a zone index (%...) is link-local", 422)
    if address.is_unspecified:
        raise UpdateRejected("update.host", f"{address} is the unspecified address", 422)
    if address.is_multicast:
        raise UpdateRejected("update.host", f"{address} is a multicast address", 422)
    if any(address.version == net.version and address in net for net in allowed_private_cidrs):
        return address
    for kind, test in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if test:
            raise UpdateRejected(
                "update.host", f"{address} is a {kind} address; only public unicast addresses are published", 422
            )
    if not address.is_global:
        raise UpdateRejected(
            "update.host", f"{address} is not globally routable; only public unicast addresses are published", 422
        )
    return address


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
