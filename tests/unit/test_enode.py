"""Enode URLs: parse/format round trips for IPv4, IPv6 and DNS hosts, and the permissioning encodings."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lacchain.enode import Enode, EnodeError, enode_from_v1

NODE_ID = "ab" * 64
node_ids = st.binary(min_size=64, max_size=64).map(bytes.hex)
ports = st.integers(min_value=1, max_value=65535)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda a: str(a))
labels = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
dns = st.lists(labels, min_size=2, max_size=4).map(".".join).filter(lambda h: not h.replace(".", "").isdigit())
hosts = st.one_of(ipv4, ipv6, dns)


@given(node_ids, hosts, ports, st.one_of(st.none(), st.integers(min_value=0, max_value=65535)))
def test_format_then_parse_is_identity(node_id: str, host: str, port: int, discport: int | None) -> None:
    enode = Enode.of(node_id, host, port, discport)
    assert Enode.parse(enode.url) == enode
    assert Enode.parse(enode.url).url == enode.url


def test_ipv6_hosts_are_bracketed_and_discport_written_only_when_different() -> None:
    enode = Enode.of(NODE_ID, "2001:db8::1", 60606, 30303)
    assert enode.url == f"enode://{NODE_ID}@[2001:db8::1]:60606?discport=30303"
    assert Enode.of(NODE_ID, "10.0.0.1", 60606, 60606).url == f"enode://{NODE_ID}@10.0.0.1:60606"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://x@1.2.3.4:1", "not an enode URL"),
        ("enode://1.2.3.4:60606", "no node id"),
        (f"enode://{NODE_ID[:-2]}@1.2.3.4:60606", "128 hex"),
        (f"enode://{NODE_ID}@1.2.3.4", "no port"),
        (f"enode://{NODE_ID}@1.2.3.4:99999", "port"),
        (f"enode://{NODE_ID}@1.2.3.4:60606?discport=x", "discport"),
        (f"enode://{NODE_ID}@1.2.3.4:60606?foo=1", "foo"),
        (f"enode://{NODE_ID}@bad_host!:60606", "neither an IP address nor a DNS name"),
    ],
)
def test_malformed_enodes_name_the_wrong_part(url: str, says: str) -> None:
    with pytest.raises(EnodeError, match=says):
        Enode.parse(url)


@given(st.text(max_size=300))
def test_parser_never_fails_with_anything_but_enode_error(text: str) -> None:
    with contextlib.suppress(EnodeError):
        Enode.parse(text)


@given(node_ids, st.one_of(ipv4, ipv6), ports)
def test_permissioning_v1_round_trip(node_id: str, host: str, port: int) -> None:
    enode = Enode.of(node_id, host, port)
    high, low, ip16, p = enode.permissioning_v1()
    assert len(high) == len(low) == 32 and len(ip16) == 16 and p == port
    decoded = enode_from_v1(high, low, ip16, port)
    assert decoded.node_id == node_id
    # v1 carries 16 bytes: an IPv4 address and its IPv4-mapped IPv6 form are the same address on the wire.
    assert as_16_bytes(decoded.host) == as_16_bytes(host)


def as_16_bytes(host: str) -> bytes:
    address = ipaddress.ip_address(host)
    return address.packed if address.version == 6 else bytes(10) + b"\xff\xff" + address.packed


def test_ipv4_is_sent_ipv4_mapped_in_v1_and_dns_needs_v2() -> None:
    _, _, ip16, _ = Enode.of(NODE_ID, "203.0.113.7", 60606).permissioning_v1()
    assert ip16 == bytes(10) + b"\xff\xff" + bytes([203, 0, 113, 7])
    dns_enode = Enode.of(NODE_ID, "boot-1.example.org", 60606)
    with pytest.raises(EnodeError, match="version=2"):
        dns_enode.permissioning_v1()
    assert dns_enode.permissioning_v2() == (NODE_ID, "boot-1.example.org", 60606)
