"""The DDNS accept/refuse rules (pure): membership, sequence, time window, public addresses, ports, labels."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lacchain.ddns.policy import (
    MemberList,
    PolicySettings,
    StoredNode,
    check_host,
    decide,
)
from lacchain.ddns.update import AddressUpdate, UpdateRejected
from lacchain.errors import InvalidInput

NOW = 1_800_000_000
A = "a" * 128
B = "b" * 128
MEMBERS = MemberList.from_document(
    {
        "network": "net",
        "nodes": [
            {"nodeId": A, "name": "writer-1", "role": "writer"},
            {"nodeId": B, "name": "validator-1", "role": "validator", "transactionManager": False},
        ],
    }
)


def update(node_id: str = A, host: str = "8.8.8.8", sequence: int = 2, **changes: object) -> AddressUpdate:
    fields = {"network": "net", "node_id": node_id, "host": host, "port": 60606, "sequence": sequence, "timestamp": NOW}
    fields.update(changes)
    return AddressUpdate(**fields)  # type: ignore[arg-type]


def stored(sequence: int = 1, host: str = "1.1.1.1") -> StoredNode:
    return StoredNode(A, "writer-1", "writer", host, 60606, sequence, NOW - 100)


def refusal(*args: object, **kwargs: object) -> UpdateRejected:
    with pytest.raises(UpdateRejected) as failure:
        decide(*args, **kwargs)  # type: ignore[arg-type]
    return failure.value


def test_accepts_a_member_with_a_higher_sequence() -> None:
    decision = decide(update(), stored(), MEMBERS, NOW)
    assert (decision.label, decision.host, decision.record_type, decision.host_changed) == (
        "writer-1",
        "8.8.8.8",
        "A",
        True,
    )
    assert decision.member.transaction_manager  # writers run a TM by default
    assert not MEMBERS.get(B).transaction_manager  # type: ignore[union-attr]


def test_first_update_and_unchanged_host() -> None:
    assert decide(update(sequence=0), None, MEMBERS, NOW).host_changed
    assert not decide(update(host="1.1.1.1"), stored(), MEMBERS, NOW).host_changed


def test_label_comes_from_the_member_list() -> None:
    assert decide(update(B), None, MEMBERS, NOW).label == "validator-1"


def test_ipv6_is_canonical_and_aaaa() -> None:
    decision = decide(update(host="2606:4700:4700:0000:0000:0000:0000:1111"), None, MEMBERS, NOW)
    assert (decision.host, decision.record_type) == ("2606:4700:4700::1111", "AAAA")


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"node_id": "c" * 128}, 403, "update.nodeId"),
        ({"network": "other"}, 403, "update.network"),
        ({"sequence": 1}, 409, "update.sequence"),
        ({"sequence": 0}, 409, "update.sequence"),
        ({"timestamp": NOW - 301}, 409, "update.timestamp"),
        ({"timestamp": NOW + 301}, 400, "update.timestamp"),
        ({"host": "10.0.0.1"}, 422, "update.host"),
        ({"port": 22}, 422, "update.port"),
    ],
)
def test_refusals(kwargs: dict, status: int, field: str) -> None:
    node_id = kwargs.pop("node_id", A)
    failure = refusal(update(node_id, **kwargs), stored(), MEMBERS, NOW)
    assert (failure.status, failure.field) == (status, field)
    assert failure.problem


def test_window_edges_and_custom_window() -> None:
    decide(update(timestamp=NOW - 300), stored(), MEMBERS, NOW)
    decide(update(timestamp=NOW + 300), stored(), MEMBERS, NOW)
    tight = PolicySettings(window_seconds=30)
    assert refusal(update(timestamp=NOW - 31), stored(), MEMBERS, NOW, tight).status == 409


@pytest.mark.parametrize(
    "host",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.251",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "::1",
        "::",
        "fe80::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:8.8.8.8",
        "fe80::1%eth0",
        "example.org",
        "8.8.8.8:60606",
        "",
    ],
)
def test_non_public_hosts_are_refused(host: str) -> None:
    with pytest.raises(UpdateRejected) as failure:
        check_host(host)
    assert (failure.value.status, failure.value.field) == (422, "update.host")


@pytest.mark.parametrize("host", ["8.8.8.8", "1.1.1.1", "200.1.2.3", "2606:4700:4700::1111", "2a00:1450:4001::1"])
def test_public_hosts_are_accepted(host: str) -> None:
    assert str(check_host(host)) == str(ipaddress.ip_address(host))


def test_allowed_private_cidrs() -> None:
    allowed = PolicySettings.parse_cidrs("10.20.0.0/16, fd00:1::/32 127.0.0.0/8")
    assert str(check_host("10.20.3.4", allowed)) == "10.20.3.4"
    assert str(check_host("fd00:1::5", allowed)) == "fd00:1::5"
    assert str(check_host("127.0.0.1", allowed)) == "127.0.0.1"
    for host in ("10.21.0.1", "fd00:2::1", "0.0.0.0", "224.0.0.1"):
        with pytest.raises(UpdateRejected):
            check_host(host, allowed)
    settings_ = PolicySettings(allowed_private_cidrs=allowed)
    assert decide(update(host="10.20.0.9"), stored(), MEMBERS, NOW, settings_).host == "10.20.0.9"
    with pytest.raises(ValueError, match="not a CIDR"):
        PolicySettings.parse_cidrs("10.0.0.1/8")


def test_port_range_setting() -> None:
    narrow = PolicySettings(port_range=(60606, 60606))
    decide(update(), stored(), MEMBERS, NOW, narrow)
    assert refusal(update(port=60607), stored(), MEMBERS, NOW, narrow).field == "update.port"
    with pytest.raises(ValueError):
        PolicySettings(port_range=(10, 5))


def test_member_list_validation_reports_every_problem() -> None:
    with pytest.raises(InvalidInput) as failure:
        MemberList.from_document(
            {
                "nodes": [
                    {"nodeId": "xyz", "name": "a", "role": "boot"},
                    {"nodeId": A, "name": "Bad_Name", "role": "boot"},
                    {"nodeId": A, "name": "ok", "role": "boot"},
                    {"nodeId": B, "name": "ok", "role": "boot", "colour": "red"},
                ],
                "extra": 1,
            }
        )
    fields = [p.field for p in failure.value.problems]
    assert "network" in fields and "extra" in fields
    assert {"nodes[0].nodeId", "nodes[1].name", "nodes[3].colour", "nodes[3].name"} <= set(fields)
    with pytest.raises(InvalidInput):
        MemberList.from_json("not json")


@settings(max_examples=200, deadline=None)
@given(address=st.ip_addresses())
def test_accepted_hosts_are_always_global_unicast(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    try:
        accepted = check_host(str(address))
    except UpdateRejected:
        return
    assert accepted.is_global and not accepted.is_multicast and not accepted.is_private


@settings(max_examples=100, deadline=None)
@given(stored_sequence=st.integers(0, 2**40), sequence=st.integers(0, 2**40))
def test_sequence_must_grow(stored_sequence: int, sequence: int) -> None:
    record = stored(stored_sequence)
    if sequence > stored_sequence:
        assert decide(update(sequence=sequence), record, MEMBERS, NOW).sequence == sequence
    else:
        assert refusal(update(sequence=sequence), record, MEMBERS, NOW).status == 409
