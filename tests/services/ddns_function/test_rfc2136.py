"""RFC 2136 backend against a real BIND 9: TSIG-signed updates resolve back; unsigned or wrongly signed updates are
refused; the EIP-1459 tree is published, read back and verified like a client does; end to end through the HTTP
adapter, refusals leave the zone unchanged."""

from __future__ import annotations

import base64
import json
import secrets

import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.update
import dns.zone
import pytest

from lacchain.ddns.policy import MemberList, PolicySettings
from lacchain.enr import MAX_BRANCH_CHILDREN, TXT_STRING_BYTES, Enr, EnrTree, tree_link
from lacchain.keys import NodeKey
from services.ddns_function.core import DdnsService, EnrTreeSettings, StaticKey
from services.ddns_function.dns_backends import DnsUpdateError, Rfc2136Dns, TsigKey
from services.ddns_function.http_server import running
from services.ddns_function.members import StaticMembers
from services.ddns_function.stores import SqliteNodeStore
from tests.services.ddns_function.conftest import Bind
from tests.services.ddns_function.helpers import PUBLIC_V4, PUBLIC_V4_NEW, PUBLIC_V6, Net, http, signed

pytestmark = pytest.mark.slow


def backend(bind: Bind, key: TsigKey | None = None) -> Rfc2136Dns:
    return Rfc2136Dns(bind.zone, bind.host, key or bind.key, port=bind.port)


def test_signed_update_resolves_back_and_switches_family(bind: Bind) -> None:
    dns_ = backend(bind)
    name = f"sw-1.{bind.zone}"
    dns_.set_address(name, "A", PUBLIC_V4, 60)
    assert dns_.resolve(name, "A") == [PUBLIC_V4]
    dns_.set_address(name, "A", PUBLIC_V4_NEW, 60)
    assert dns_.resolve(name, "A") == [PUBLIC_V4_NEW]
    dns_.set_address(name, "AAAA", PUBLIC_V6, 60)
    assert dns_.resolve(name, "AAAA") == [PUBLIC_V6]
    assert dns_.resolve(name, "A") == []


def test_unsigned_update_is_refused(bind: Bind) -> None:
    name = f"unsigned.{bind.zone}"
    message = dns.update.UpdateMessage(bind.zone)
    message.replace(name + ".", 60, "A", PUBLIC_V4)
    response = dns.query.tcp(message, bind.host, port=bind.port, timeout=5)
    assert response.rcode() == dns.rcode.REFUSED
    assert backend(bind).resolve(name, "A") == []


def test_wrongly_signed_update_is_refused(bind: Bind) -> None:
    name = f"badsig.{bind.zone}"
    wrong = TsigKey(bind.key.name, base64.b64encode(secrets.token_bytes(32)).decode())
    with pytest.raises((DnsUpdateError, dns.tsig.PeerError)):
        backend(bind, wrong).set_address(name, "A", PUBLIC_V4, 60)
    unknown = TsigKey("other-key.", bind.key.secret)
    with pytest.raises((DnsUpdateError, dns.tsig.PeerError)):
        backend(bind, unknown).set_address(name, "A", PUBLIC_V4, 60)
    assert backend(bind).resolve(name, "A") == []


def test_name_outside_the_zone_is_refused_before_sending(bind: Bind) -> None:
    with pytest.raises(DnsUpdateError, match="outside the zone"):
        backend(bind).set_address("writer.example.net", "A", PUBLIC_V4, 60)


def test_enr_tree_is_published_and_verifies(bind: Bind) -> None:
    dns_ = backend(bind)
    tree_key = NodeKey.generate()
    domain = f"tree1.{bind.zone}"
    nodes = [NodeKey.generate() for _ in range(MAX_BRANCH_CHILDREN + 3)]
    records = [Enr.create(k, 1, ip=PUBLIC_V4, tcp=60606, udp=60606) for k in nodes]
    tree = EnrTree.build(records, [], 1, tree_key)
    dns_.sync_txt_tree(domain, tree.txt_records(domain), 300)

    link = tree_link(tree_key.compressed_public_key, domain)
    lookups = {}

    def lookup(fqdn: str) -> str | None:
        values = dns_.resolve(fqdn, "TXT")
        lookups[fqdn] = values
        return values[0] if values else None

    _, found, links = EnrTree.resolve(link, lookup)
    assert sorted(r.enode_id for r in found) == sorted(k.node_id for k in nodes)
    assert links == []

    # every entry is stored as <= 255-byte strings; a long leaf as several strings of one record
    big = Enr.create(NodeKey.generate(), 1, ip=PUBLIC_V4, tcp=60606, extra={b"lacchain": b"m" * 120})
    with_big = EnrTree.build([*records, big], [], 2, tree_key)
    dns_.sync_txt_tree(domain, with_big.txt_records(domain), 300)
    for label, text in with_big.entries.items():
        response = dns.query.tcp(dns.message.make_query(f"{label}.{domain}", "TXT"), bind.host, port=bind.port)
        (rdata,) = response.answer[0]
        assert all(len(s) <= TXT_STRING_BYTES for s in rdata.strings)
        assert b"".join(rdata.strings).decode() == text
        assert len(rdata.strings) == (2 if text == big.text else 1)

    # a smaller tree replaces it: stale entries are deleted
    smaller = EnrTree.build(records[:2], [], 3, tree_key)
    dns_.sync_txt_tree(domain, smaller.txt_records(domain), 300)
    _, found, _ = EnrTree.resolve(link, lookup)
    assert sorted(r.enode_id for r in found) == sorted(k.node_id for k in nodes[:2])
    stale = set(tree.entries) - set(smaller.entries)
    assert stale and all(dns_.resolve(f"{label}.{domain}", "TXT") == [] for label in stale)


def test_end_to_end_through_http_refusals_leave_the_zone_unchanged(bind: Bind) -> None:
    net = Net()
    members = MemberList.from_document(net.document())
    dns_ = backend(bind)
    tree_key = NodeKey.generate()
    service = DdnsService(
        zone=bind.zone,
        store=SqliteNodeStore(),
        dns=dns_,
        members=StaticMembers(members),
        tree=EnrTreeSettings(f"nodes.{bind.zone}", StaticKey(tree_key)),
        settings=PolicySettings(),
    )
    name = f"writer-1.{bind.zone}"
    with running(service) as url:
        status, body = http("POST", f"{url}/v1/update", signed(net.writer, PUBLIC_V4, 1).to_json().encode())
        assert (status, body["name"]) == (200, name)
        assert dns_.resolve(name, "A") == [PUBLIC_V4]
        enr = Enr.create(net.writer, 1, ip=PUBLIC_V4, tcp=60606, udp=60606)
        assert http("POST", f"{url}/v1/enr", json.dumps({"enr": enr.text}).encode())[0] == 200

        def zone_state() -> object:
            return dns.zone.from_xfr(
                dns.query.xfr(bind.host, bind.zone, port=bind.port, keyring=bind.key.keyring())
            ).to_text()

        before = zone_state()
        for bad in (
            signed(net.writer, "192.168.0.10", 2),
            signed(net.outsider, PUBLIC_V4_NEW, 2),
            signed(net.validator, PUBLIC_V4_NEW, 2, node_id=net.writer.node_id),
            signed(net.writer, PUBLIC_V4_NEW, 1),
        ):
            assert http("POST", f"{url}/v1/update", bad.to_json().encode())[0] in (401, 403, 409, 422)
        assert zone_state() == before
        assert http("POST", f"{url}/v1/update", signed(net.writer, PUBLIC_V4_NEW, 2).to_json().encode())[0] == 200
        assert dns_.resolve(name, "A") == [PUBLIC_V4_NEW]
        _, found, _ = EnrTree.resolve(service.enr_tree_link() or "", lambda n: (dns_.resolve(n, "TXT") or [None])[0])
        assert [r.enode_id for r in found] == [net.writer.node_id]
