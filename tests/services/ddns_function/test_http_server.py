"""The on-prem HTTP adapter against the HTTP contract the node daemon is written to; every refusal leaves the node
table and DNS unchanged."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from lacchain.ddns.update import MAX_BODY_BYTES, SignedUpdate
from lacchain.enr import Enr, EnrTree
from lacchain.keys import NodeKey
from services.ddns_function.core import DdnsService
from services.ddns_function.http_server import local_service, running, wsgi_app
from tests.services.ddns_function.helpers import (
    NETWORK,
    PUBLIC_V4,
    PUBLIC_V4_NEW,
    PUBLIC_V6,
    ZONE,
    Net,
    http,
    signed,
)


@pytest.fixture()
def net() -> Net:
    return Net()


@pytest.fixture()
def service(net: Net) -> DdnsService:
    return local_service(net.document(), ZONE, tree_key=NodeKey.generate())


@pytest.fixture()
def url(service: DdnsService) -> Iterator[str]:
    with running(service) as base:
        yield base


def post(url: str, update: SignedUpdate | bytes | str) -> tuple[int, dict]:
    body = update.to_json().encode() if isinstance(update, SignedUpdate) else update
    return http("POST", f"{url}/v1/update", body.encode() if isinstance(body, str) else body)


def state(service: DdnsService) -> tuple[object, object]:
    return service.store.all(), service.dns.snapshot()  # type: ignore[attr-defined]


def test_accepts_update_and_publishes_a_record(url: str, service: DdnsService, net: Net) -> None:
    status, body = post(url, signed(net.writer, PUBLIC_V4, 1))
    assert (status, body) == (200, {"accepted": True, "name": f"writer-1.{ZONE}", "sequence": 1})
    assert service.dns.lookup(f"writer-1.{ZONE}", "A") == [PUBLIC_V4]  # type: ignore[attr-defined]
    status, body = post(url, signed(net.writer, PUBLIC_V4_NEW, 2))
    assert status == 200 and body["sequence"] == 2
    assert service.dns.lookup(f"writer-1.{ZONE}", "A") == [PUBLIC_V4_NEW]  # type: ignore[attr-defined]


def test_ipv6_update_writes_aaaa_and_removes_a(url: str, service: DdnsService, net: Net) -> None:
    assert post(url, signed(net.boot, PUBLIC_V4, 1))[0] == 200
    status, _ = post(url, signed(net.boot, "2606:4700:4700:0:0:0:0:1111", 2))
    assert status == 200
    dns = service.dns  # type: ignore[attr-defined]
    assert dns.lookup(f"boot-1.{ZONE}", "AAAA") == [PUBLIC_V6]
    assert dns.lookup(f"boot-1.{ZONE}", "A") == []


def test_nodes_listing_is_sorted_and_complete(url: str, service: DdnsService, net: Net) -> None:
    for key, host in ((net.writer, PUBLIC_V4), (net.boot, PUBLIC_V4_NEW), (net.validator, PUBLIC_V6)):
        assert post(url, signed(key, host, 7))[0] == 200
    status, body = http("GET", f"{url}/v1/nodes")
    assert status == 200
    assert body["network"] == NETWORK and body["zone"] == ZONE
    assert [n["name"] for n in body["nodes"]] == ["boot-1", "validator-1", "writer-1"]
    assert body["enrTree"] == service.enr_tree_link()
    assert body["enrTree"].startswith("enrtree://") and body["enrTree"].endswith(f"@nodes.{ZONE}")
    boot = body["nodes"][0]
    assert set(boot) == {"nodeId", "name", "role", "host", "port", "sequence", "updatedAt"}
    assert (boot["nodeId"], boot["role"], boot["host"], boot["port"], boot["sequence"]) == (
        net.boot.node_id,
        "boot",
        PUBLIC_V4_NEW,
        60606,
        7,
    )
    assert abs(boot["updatedAt"] - time.time()) < 60


def test_healthz(url: str) -> None:
    assert http("GET", f"{url}/healthz")[0] == 200


def test_unknown_path_and_wrong_method(url: str) -> None:
    assert http("GET", f"{url}/v1/nope")[0] == 404
    status, body = http("GET", f"{url}/v1/update")
    assert status == 405 and body["error"]["field"] == "method"


def _forged(update: SignedUpdate) -> SignedUpdate:
    signature = bytearray(update.signature)
    signature[10] ^= 0x01
    return replace(update, signature=bytes(signature))


REFUSALS = {
    # name: (make body from net, expected status, expected field)
    "forged signature": (lambda n: _forged(signed(n.writer)), 401, "signature"),
    "tampered host after signing": (
        lambda n: replace(signed(n.writer), update=replace(signed(n.writer).update, host=PUBLIC_V4_NEW)),
        401,
        "signature",
    ),
    "signed by another member (wrong enode)": (
        lambda n: signed(n.validator, node_id=n.writer.node_id),
        401,
        "signature",
    ),
    "node not in network": (lambda n: signed(n.outsider), 403, "update.nodeId"),
    "other network": (lambda n: signed(n.writer, network="other-net"), 403, "update.network"),
    "stale timestamp": (lambda n: signed(n.writer, timestamp=int(time.time()) - 301), 409, "update.timestamp"),
    "future timestamp": (lambda n: signed(n.writer, timestamp=int(time.time()) + 400), 400, "update.timestamp"),
    "private IPv4": (lambda n: signed(n.writer, "10.1.2.3"), 422, "update.host"),
    "loopback": (lambda n: signed(n.writer, "127.0.0.1"), 422, "update.host"),
    "link-local IPv6": (lambda n: signed(n.writer, "fe80::1"), 422, "update.host"),
    "unique-local IPv6": (lambda n: signed(n.writer, "fd00::1"), 422, "update.host"),
    "multicast": (lambda n: signed(n.writer, "224.0.0.1"), 422, "update.host"),
    "unspecified": (lambda n: signed(n.writer, "0.0.0.0"), 422, "update.host"),
    "documentation range": (lambda n: signed(n.writer, "203.0.113.7"), 422, "update.host"),
    "shared address space (CGNAT)": (lambda n: signed(n.writer, "100.64.0.1"), 422, "update.host"),
    "hostname instead of IP": (lambda n: signed(n.writer, "evil.example.com"), 422, "update.host"),
    "low port": (lambda n: signed(n.writer, port=80), 422, "update.port"),
    "garbage JSON": (lambda n: b"{not json", 400, "body"),
    "empty body": (lambda n: b"", 400, "body"),
    "missing field": (lambda n: json.dumps({"update": {}, "signature": "0x"}).encode(), 400, "update.host"),
    "oversized body": (lambda n: b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}", 413, "body"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_change_nothing(name: str, url: str, service: DdnsService, net: Net) -> None:
    assert post(url, signed(net.writer, PUBLIC_V4, 5, timestamp=int(time.time()) - 10))[0] == 200
    before = state(service)
    make, expected_status, expected_field = REFUSALS[name]
    body = make(net)
    if isinstance(body, SignedUpdate) and body.update.node_id == net.writer.node_id and name != "forged signature":
        body = replace(body, update=replace(body.update, sequence=6))
        body = body if "tampered" in name or "another" in name else body.update.sign(net.writer)
    status, answer = post(url, body)
    assert status == expected_status, answer
    assert answer["error"]["field"] == expected_field
    assert answer["error"]["problem"]
    assert state(service) == before


@pytest.mark.parametrize("sequence", [5, 4, 0])
def test_replay_or_lower_sequence_is_refused(sequence: int, url: str, service: DdnsService, net: Net) -> None:
    first = signed(net.writer, PUBLIC_V4, 5)
    assert post(url, first)[0] == 200
    before = state(service)
    again = first if sequence == 5 else signed(net.writer, PUBLIC_V4_NEW, sequence)
    status, answer = post(url, again)
    assert (status, answer["error"]["field"]) == (409, "update.sequence")
    assert state(service) == before


def test_allowed_private_cidr_is_accepted(net: Net) -> None:
    service = local_service(net.document(), ZONE, allowed_private_cidrs="10.20.0.0/16, 127.0.0.0/8")
    with running(service) as url:
        assert post(url, signed(net.writer, "10.20.1.2", 1))[0] == 200
        assert post(url, signed(net.writer, "127.0.0.1", 2))[0] == 200
        status, answer = post(url, signed(net.writer, "10.21.0.1", 3))
        assert (status, answer["error"]["field"]) == (422, "update.host")


def test_node_enr_is_published_in_a_verifiable_tree(url: str, service: DdnsService, net: Net) -> None:
    for key, host in ((net.writer, PUBLIC_V4), (net.boot, PUBLIC_V4_NEW)):
        assert post(url, signed(key, host, 1))[0] == 200
        record = Enr.create(key, 1, ip=host, tcp=60606, udp=60606)
        status, body = http("POST", f"{url}/v1/enr", json.dumps({"enr": record.text}).encode())
        assert status == 200, body
    dns = service.dns  # type: ignore[attr-defined]
    _, records, links = EnrTree.resolve(service.enr_tree_link() or "", dns.txt)
    assert {r.enode_id for r in records} == {net.writer.node_id, net.boot.node_id}
    assert links == []


def test_enr_refusals_change_nothing(url: str, service: DdnsService, net: Net) -> None:
    assert post(url, signed(net.writer, PUBLIC_V4, 1))[0] == 200
    good = Enr.create(net.writer, 3, ip=PUBLIC_V4, tcp=60606)
    assert http("POST", f"{url}/v1/enr", json.dumps({"enr": good.text}).encode())[0] == 200
    before = state(service)
    cases = [
        (json.dumps({"enr": good.text}), 409, "enr.seq"),  # same seq again
        (json.dumps({"enr": Enr.create(net.writer, 2, ip=PUBLIC_V4).text}), 409, "enr.seq"),  # lower seq
        (json.dumps({"enr": Enr.create(net.outsider, 9, ip=PUBLIC_V4).text}), 403, "enr"),
        (json.dumps({"enr": Enr.create(net.validator, 9, ip=PUBLIC_V4).text}), 409, "enr"),  # no address yet
        (json.dumps({"enr": Enr.create(net.writer, 9, ip="192.168.1.1").text}), 422, "enr"),
        (json.dumps({"enr": replace(good, signature=bytes(64)).text}), 401, "enr"),
        (json.dumps({"enr": replace(good, seq=4).text}), 401, "enr"),  # content changed after signing
        (json.dumps({"enr": "enr:???"}), 400, "enr"),
        ("not json", 400, "body"),
        (json.dumps({"enr": good.text, "x": 1}), 400, "body"),
    ]
    for body, expected, field_name in cases:
        status, answer = http("POST", f"{url}/v1/enr", body.encode())
        assert (status, answer["error"]["field"]) == (expected, field_name), (body, answer)
    assert state(service) == before


# ------------------------------------------------------------------------------------------------ conditional GET


def test_the_node_list_is_a_conditional_get(url: str, service: DdnsService, net: Net) -> None:
    """ETag = the SHA-256 of the body; If-None-Match with it answers 304 without a body on the same kept-alive
    connection (so the framing is right); any change of the table changes the ETag."""
    assert post(url, signed(net.writer, PUBLIC_V4, 1))[0] == 200
    with httpx.Client(base_url=url, timeout=5, trust_env=False) as client:
        first = client.get("/v1/nodes")
        assert first.status_code == 200
        etag = first.headers["ETag"]
        assert etag == '"' + hashlib.sha256(first.content).hexdigest() + '"'
        assert first.headers["Cache-Control"] == "no-cache"

        for validator in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again = client.get("/v1/nodes", headers={"If-None-Match": validator})
            assert again.status_code == 304, validator
            assert again.content == b"" and "content-length" not in again.headers
            assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == "no-cache"
        assert client.get("/v1/nodes", headers={"If-None-Match": '"stale"'}).status_code == 200
        head = client.head("/v1/nodes")
        assert head.status_code == 200 and head.headers["ETag"] == etag and head.content == b""

        assert post(url, signed(net.writer, PUBLIC_V4_NEW, 2))[0] == 200
        changed = client.get("/v1/nodes", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["ETag"] != etag
        assert changed.json()["nodes"][0]["host"] == PUBLIC_V4_NEW


def test_the_wsgi_app_answers_conditional_gets_too(service: DdnsService, net: Net) -> None:
    app = wsgi_app(service)
    answers: list[tuple[str, list[tuple[str, str]]]] = []

    def call(headers: dict[str, str]) -> bytes:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/nodes", "wsgi.input": io.BytesIO(b""), **headers}
        return b"".join(app(environ, lambda status, h: answers.append((status, h))))

    body = call({})
    etag = dict(answers[-1][1])["ETag"]
    assert answers[-1][0] == "200 OK" and etag == '"' + hashlib.sha256(body).hexdigest() + '"'
    assert call({"HTTP_IF_NONE_MATCH": etag}) == b""
    assert answers[-1][0] == "304 Not Modified" and "Content-Length" not in dict(answers[-1][1])
