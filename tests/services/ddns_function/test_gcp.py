"""Google Cloud DNS backend and the Cloud Functions adapter, tested at the HTTP transport: Cloud DNS has no local
emulator, so every request is asserted against the documented REST API v1 shape (``resourceRecordSets.list``,
``changes.create``), and the metadata-server token flow is exercised the same way."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from lacchain.enr import Enr, EnrTree
from lacchain.keys import NodeKey
from services.ddns_function import config, gcp_function
from services.ddns_function.config import service_from_env
from services.ddns_function.dns_backends import CloudDns, DnsUpdateError, quoted_txt
from services.ddns_function.gcp_auth import METADATA_TOKEN_URL, MetadataTokenAuth, default_session
from tests.services.ddns_function.helpers import PUBLIC_V4, PUBLIC_V6, Net, signed

API = "https://dns.googleapis.com/dns/v1/projects/lacchain-prod/managedZones/lacchain-zone"


class Recorder:
    """A transport that answers from a script and records every request."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == METADATA_TOKEN_URL:
            assert request.headers["Metadata-Flavor"] == "Google"
            return httpx.Response(
                200, json={"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"}
            )
        assert request.headers["Authorization"] == "Bearer ya29.test-token"
        return self.answer(request)

    def api_calls(self) -> list[tuple[str, str, Any]]:
        calls = []
        for request in self.requests:
            if str(request.url) == METADATA_TOKEN_URL:
                continue
            body = json.loads(request.content) if request.content else None
            calls.append((request.method, str(request.url), body))
        return calls


def backend(recorder: Recorder) -> CloudDns:
    transport = httpx.MockTransport(recorder)
    session = default_session(transport=transport)
    assert isinstance(session, httpx.Client)  # google-auth is not installed here: the metadata-token client
    return CloudDns(session, "lacchain-prod", "lacchain-zone")


def rrset(name: str, kind: str, rrdatas: list[str], ttl: int = 60) -> dict[str, Any]:
    return {"kind": "dns#resourceRecordSet", "name": name, "type": kind, "ttl": ttl, "rrdatas": rrdatas}


def test_set_address_replaces_the_other_family_atomically() -> None:
    existing = rrset("writer-1.lacchain.example.org.", "A", ["8.8.4.4"])

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"kind": "dns#resourceRecordSetsListResponse", "rrsets": [existing]})
        return httpx.Response(200, json={"kind": "dns#change", "id": "7", "status": "pending"})

    recorder = Recorder(answer)
    backend(recorder).set_address("writer-1.lacchain.example.org", "AAAA", PUBLIC_V6, 60)
    assert recorder.api_calls() == [
        ("GET", f"{API}/rrsets?name=writer-1.lacchain.example.org.", None),
        (
            "POST",
            f"{API}/changes",
            {
                "kind": "dns#change",
                "additions": [rrset("writer-1.lacchain.example.org.", "AAAA", [PUBLIC_V6])],
                "deletions": [existing],
            },
        ),
    ]
    assert recorder.requests[0].url == METADATA_TOKEN_URL  # the token was fetched first, once


def test_set_address_to_a_new_name_adds_only_and_same_address_changes_nothing() -> None:
    current: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"rrsets": current})
        return httpx.Response(200, json={"kind": "dns#change", "id": "1", "status": "done"})

    recorder = Recorder(answer)
    dns = backend(recorder)
    dns.set_address("boot-1.lacchain.example.org", "A", PUBLIC_V4, 60)
    assert recorder.api_calls()[-1] == (
        "POST",
        f"{API}/changes",
        {"kind": "dns#change", "additions": [rrset("boot-1.lacchain.example.org.", "A", [PUBLIC_V4])]},
    )
    current.append(rrset("boot-1.lacchain.example.org.", "A", [PUBLIC_V4]))
    calls = len(recorder.api_calls())
    dns.set_address("boot-1.lacchain.example.org", "A", PUBLIC_V4, 60)
    assert [c[0] for c in recorder.api_calls()[calls:]] == ["GET"]


def test_tree_sync_pages_through_the_zone_and_sends_one_change() -> None:
    key = NodeKey.generate()
    domain = "nodes.lacchain.example.org"
    records = [Enr.create(NodeKey.generate(), 1, ip=PUBLIC_V4, tcp=60606) for _ in range(3)]
    tree = EnrTree.build(records, [], 2, key)
    wanted = tree.txt_records(domain)
    kept_name = next(n for n in wanted if n != domain)
    kept = rrset(kept_name + ".", "TXT", [quoted_txt(wanted[kept_name])], 300)
    old_root = rrset(domain + ".", "TXT", ['"enrtree-root:v1 e=OLD l=OLD seq=1 sig=x"'], 300)
    stale = rrset("STALEHASHSTALEHASHSTALEHAS." + domain + ".", "TXT", ['"enrtree-branch:"'], 300)
    unrelated = rrset("writer-1.lacchain.example.org.", "A", [PUBLIC_V4])
    deeper = rrset("x.y." + domain + ".", "TXT", ['"not ours"'], 300)
    pages = {
        None: {"rrsets": [old_root, unrelated, kept], "nextPageToken": "page-2"},
        "page-2": {"rrsets": [stale, deeper]},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=pages[request.url.params.get("pageToken")])
        return httpx.Response(200, json={"kind": "dns#change", "id": "9", "status": "pending"})

    recorder = Recorder(answer)
    backend(recorder).sync_txt_tree(domain, wanted, 300)
    calls = recorder.api_calls()
    assert calls[0] == ("GET", f"{API}/rrsets", None)
    assert calls[1] == ("GET", f"{API}/rrsets?pageToken=page-2", None)
    method, url, body = calls[2]
    assert (method, url, len(calls)) == ("POST", f"{API}/changes", 3)
    assert body["kind"] == "dns#change"
    expected_additions = [
        rrset(name + ".", "TXT", [quoted_txt(text)], 300) for name, text in wanted.items() if name != kept_name
    ]
    assert sorted(body["additions"], key=lambda r: r["name"]) == sorted(expected_additions, key=lambda r: r["name"])
    assert sorted(body["deletions"], key=lambda r: r["name"]) == sorted([old_root, stale], key=lambda r: r["name"])
    for addition in body["additions"]:
        assert addition["rrdatas"][0].startswith('"') and addition["rrdatas"][0].endswith('"')


def test_api_errors_raise_with_the_status() -> None:
    recorder = Recorder(lambda request: httpx.Response(403, json={"error": {"code": 403, "message": "denied"}}))
    with pytest.raises(DnsUpdateError, match="403"):
        backend(recorder).set_address("writer-1.lacchain.example.org", "A", PUBLIC_V4, 60)


def test_metadata_token_is_reused_until_it_expires() -> None:
    recorder = Recorder(lambda request: httpx.Response(200, json={"rrsets": []}))
    auth = MetadataTokenAuth(transport=httpx.MockTransport(recorder))
    client = httpx.Client(auth=auth, transport=httpx.MockTransport(recorder))
    for _ in range(3):
        client.get(f"{API}/rrsets")
    assert [str(r.url) for r in recorder.requests].count(METADATA_TOKEN_URL) == 1


# ------------------------------------------------------------------------------------------- Cloud Functions adapter


def flask_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Request:
    builder = EnvironBuilder(method=method, path=path, data=body, content_type="application/json", headers=headers)
    return Request(builder.get_environ())


def test_cloud_function_entry_point_on_cloud_dns(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    net = Net()
    members = tmp_path / "members.json"
    members.write_text(json.dumps(net.document()))
    zone_sets: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"rrsets": zone_sets})
        change = json.loads(request.content)
        for deletion in change.get("deletions", []):
            zone_sets.remove(deletion)
        zone_sets.extend(change["additions"])
        return httpx.Response(200, json={"kind": "dns#change", "id": "1", "status": "done"})

    recorder = Recorder(answer)
    env = {
        "DDNS_NETWORK": "lacchain-test",
        "DDNS_ZONE": "lacchain.example.org",
        "DDNS_MEMBERS": f"file:{members}",
        "DDNS_SQLITE_PATH": str(tmp_path / "nodes.db"),
        "DDNS_DNS_BACKEND": "clouddns",
        "DDNS_GCP_PROJECT": "lacchain-prod",
        "DDNS_GCP_MANAGED_ZONE": "lacchain-zone",
    }
    service = service_from_env(env, gcp_session=default_session(transport=httpx.MockTransport(recorder)))
    monkeypatch.setattr(config, "_shared", service)

    body, status, headers = gcp_function.ddns(
        flask_request("POST", "/v1/update", signed(net.writer, PUBLIC_V4, 1).to_json().encode())
    )
    assert (status, json.loads(body)) == (
        200,
        {"accepted": True, "name": "writer-1.lacchain.example.org", "sequence": 1},
    )
    assert headers["Content-Type"] == "application/json"
    assert zone_sets == [rrset("writer-1.lacchain.example.org.", "A", [PUBLIC_V4])]

    before = list(zone_sets)
    body, status, _ = gcp_function.ddns(flask_request("POST", "/v1/update", b"x" * 5000))
    assert (status, json.loads(body)["error"]["field"]) == (413, "body")
    body, status, _ = gcp_function.ddns(
        flask_request("POST", "/v1/update", signed(net.writer, "10.0.0.1", 2).to_json().encode())
    )
    assert status == 422
    assert zone_sets == before
    body, status, headers = gcp_function.ddns(flask_request("GET", "/v1/nodes"))
    assert status == 200 and [n["name"] for n in json.loads(body)["nodes"]] == ["writer-1"]
    etag = headers["ETag"]
    assert etag == '"' + hashlib.sha256(body).hexdigest() + '"' and headers["Cache-Control"] == "no-cache"
    body, status, headers = gcp_function.ddns(flask_request("GET", "/v1/nodes", headers={"If-None-Match": etag}))
    assert (status, body, headers["ETag"]) == (304, b"", etag)
