"""The core in process: concurrency (the sequence never goes down, DNS ends on the newest address), failure
answers, the on-prem configuration from environment variables (SQLite, file secrets, RFC 2136 to BIND)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from cryptography import x509

from lacchain.ddns.certificate import new_ca
from lacchain.ddns.policy import MemberList
from lacchain.enr import Enr, EnrTree
from lacchain.keys import NodeKey
from services.ddns_function.config import ConfigError, service_from_env
from services.ddns_function.core import DdnsService
from services.ddns_function.dns_backends import Rfc2136Dns
from services.ddns_function.dns_memory import MemoryDns
from services.ddns_function.http_server import local_service, running
from services.ddns_function.members import StaticMembers
from services.ddns_function.secrets import FileSecretStore
from services.ddns_function.stores import SqliteNodeStore
from tests.services.ddns_function.conftest import Bind
from tests.services.ddns_function.helpers import NETWORK, PUBLIC_V4, ZONE, Net, http, signed


def test_concurrent_updates_of_one_node_end_on_the_newest(tmp_path: Path) -> None:
    net = Net()
    service = local_service(net.document(), ZONE, sqlite_path=str(tmp_path / "nodes.db"))
    updates = [signed(net.writer, f"1.1.{s // 250}.{s % 250 + 1}", s) for s in range(1, 61)]
    results: dict[int, int] = {}

    with running(service) as url:

        def send(chunk: list) -> None:
            for update in chunk:
                results[update.update.sequence] = http("POST", f"{url}/v1/update", update.to_json().encode())[0]

        chunks = [updates[i::6][::-1] for i in range(6)]
        threads = [threading.Thread(target=send, args=(chunk,)) for chunk in chunks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert set(results.values()) <= {200, 409}
    assert results[60] == 200
    newest = updates[-1].update.host
    stored = service.store.get(net.writer.node_id)
    assert stored is not None and (stored.sequence, stored.host) == (60, newest)
    assert service.dns.lookup(f"writer-1.{ZONE}", "A") == [newest]  # type: ignore[attr-defined]


def test_sqlite_store_is_shared_between_processes_safely(tmp_path: Path) -> None:
    path = tmp_path / "nodes.db"
    first, second = SqliteNodeStore(path), SqliteNodeStore(path)
    net = Net()
    members = MemberList.from_document(net.document())
    a = DdnsService(zone=ZONE, store=first, dns=MemoryDns(), members=StaticMembers(members))
    b = DdnsService(zone=ZONE, store=second, dns=MemoryDns(), members=StaticMembers(members))
    assert a.handle("POST", "/v1/update", signed(net.writer, PUBLIC_V4, 5).to_json().encode()).status == 200
    assert b.handle("POST", "/v1/update", signed(net.writer, PUBLIC_V4, 5).to_json().encode()).status == 409
    assert [second.next_tree_sequence(), first.next_tree_sequence()] == [1, 2]


class FailingDns(MemoryDns):
    """A zone whose provider is down."""

    def set_address(self, fqdn: str, record_type: str, host: str, ttl: int) -> None:
        raise ConnectionError("provider unreachable")

    def sync_txt_tree(self, domain: str, records: Mapping[str, str], ttl: int) -> None:
        raise ConnectionError("provider unreachable")


def test_provider_failure_answers_502_and_a_retry_with_a_new_sequence_succeeds() -> None:
    net = Net()
    members = StaticMembers(MemberList.from_document(net.document()))
    store = SqliteNodeStore()
    broken = DdnsService(zone=ZONE, store=store, dns=FailingDns(), members=members)
    response = broken.handle("POST", "/v1/update", signed(net.writer, PUBLIC_V4, 1).to_json().encode())
    assert response.status == 502 and response.body["error"]["field"] == "dns"
    working = DdnsService(zone=ZONE, store=store, dns=MemoryDns(), members=members)
    assert working.handle("POST", "/v1/update", signed(net.writer, PUBLIC_V4, 2).to_json().encode()).status == 200
    assert working.dns.lookup(f"writer-1.{ZONE}", "A") == [PUBLIC_V4]  # type: ignore[attr-defined]


def test_unexpected_errors_answer_500_without_details() -> None:
    class Broken:
        def load(self) -> MemberList:
            raise RuntimeError("secret store down: arn:aws:secretsmanager:...")

    service = DdnsService(zone=ZONE, store=SqliteNodeStore(), dns=MemoryDns(), members=Broken())
    response = service.handle("POST", "/v1/update", signed(Net().writer).to_json().encode())
    assert response.status == 500
    assert "arn" not in json.dumps(response.body)


def test_member_removed_from_the_list_disappears_from_listing_and_tree() -> None:
    net = Net()
    key = NodeKey.generate()
    service = local_service(net.document(), ZONE, tree_key=key)
    for node in (net.writer, net.boot):
        assert service.handle("POST", "/v1/update", signed(node, PUBLIC_V4, 1).to_json().encode()).status == 200
        enr = Enr.create(node, 1, ip=PUBLIC_V4, tcp=60606)
        assert service.handle("POST", "/v1/enr", json.dumps({"enr": enr.text}).encode()).status == 200
    document = net.document()
    document["nodes"] = [n for n in document["nodes"] if n["name"] != "boot-1"]
    service.members = StaticMembers(MemberList.from_document(document))
    assert [n["name"] for n in service.get_nodes().body["nodes"]] == ["writer-1"]
    assert service.handle("POST", "/v1/update", signed(net.writer, PUBLIC_V4, 2).to_json().encode()).status == 200
    dns = service.dns  # type: ignore[attr-defined]
    _, records, _ = EnrTree.resolve(service.enr_tree_link() or "", dns.txt)
    assert [r.enode_id for r in records] == [net.writer.node_id]


# ----------------------------------------------------------------------------------------------------- on-prem config


def on_prem_env(tmp_path: Path, bind: Bind, net: Net) -> dict[str, str]:
    secrets = FileSecretStore(tmp_path / "secrets")
    secrets.put("tm-ca", new_ca("on-prem CA").to_json())
    secrets.put("enrtree-key", NodeKey.generate().hex)
    (tmp_path / "members.json").write_text(json.dumps(net.document()))
    return {
        "DDNS_NETWORK": NETWORK,
        "DDNS_ZONE": f"onprem.{bind.zone}",
        "DDNS_MEMBERS": f"file:{tmp_path / 'members.json'}",
        "DDNS_STORE": "sqlite",
        "DDNS_SQLITE_PATH": str(tmp_path / "db" / "nodes.db"),
        "DDNS_DNS_BACKEND": "rfc2136",
        "DDNS_DNS_SERVER": f"{bind.host}:{bind.port}",
        "DDNS_DNS_ZONE": bind.zone,
        "DDNS_TSIG_KEY_NAME": bind.key.name,
        "DDNS_TSIG_SECRET": bind.key.secret,
        "DDNS_SECRETS": "file",
        "DDNS_SECRETS_DIR": str(tmp_path / "secrets"),
        "DDNS_CA_SECRET": "tm-ca",
        "DDNS_NODE_CERT_SECRET": "nodes/{name}/tm-tls",
        "DDNS_TREE_KEY_SECRET": "enrtree-key",
        "DDNS_ALLOWED_PRIVATE_CIDRS": "10.50.0.0/16",
        "DDNS_WINDOW_SECONDS": "120",
    }


@pytest.mark.slow
def test_on_prem_configuration_end_to_end(tmp_path: Path, bind: Bind) -> None:
    net = Net()
    service = service_from_env(on_prem_env(tmp_path, bind, net))
    dns = Rfc2136Dns(bind.zone, bind.host, bind.key, port=bind.port)
    name = f"writer-1.onprem.{bind.zone}"
    with running(service) as url:
        status, body = http("POST", f"{url}/v1/update", signed(net.writer, "10.50.1.2", 1).to_json().encode())
        assert (status, body["name"]) == (200, name)
        assert dns.resolve(name, "A") == ["10.50.1.2"]
        stale = signed(net.writer, "10.50.1.3", 2, timestamp=int(time.time()) - 121)
        assert http("POST", f"{url}/v1/update", stale.to_json().encode())[0] == 409
        enr = Enr.create(net.writer, 1, ip="10.50.1.2", tcp=60606)
        assert http("POST", f"{url}/v1/enr", json.dumps({"enr": enr.text}).encode())[0] == 200
        listing = http("GET", f"{url}/v1/nodes")[1]
    document = json.loads((tmp_path / "secrets" / "nodes" / "writer-1" / "tm-tls").read_text())
    certificate = x509.load_pem_x509_certificate(document["certificate"].encode())
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.50.1.2"]
    assert san.get_values_for_type(x509.DNSName) == [name]
    assert (tmp_path / "secrets" / "nodes" / "writer-1" / "tm-tls").stat().st_mode & 0o077 == 0
    _, records, _ = EnrTree.resolve(listing["enrTree"], lambda n: (dns.resolve(n, "TXT") or [None])[0])
    assert [r.enode_id for r in records] == [net.writer.node_id]


def test_configuration_errors_name_each_variable(tmp_path: Path) -> None:
    cases = {
        "DDNS_DNS_BACKEND": {"DDNS_DNS_BACKEND": "bind"},
        "DDNS_TSIG_SECRET": {"DDNS_DNS_BACKEND": "rfc2136", "DDNS_TSIG_SECRET": "%%%"},
        "DDNS_DNS_SERVER": {"DDNS_DNS_BACKEND": "rfc2136", "DDNS_DNS_SERVER": "ns1:99999"},
        "DDNS_DNS_ZONE": {"DDNS_DNS_BACKEND": "rfc2136", "DDNS_DNS_ZONE": "other.org"},
        "DDNS_ALLOWED_PRIVATE_CIDRS": {"DDNS_ALLOWED_PRIVATE_CIDRS": "10.0.0.1/8"},
        "DDNS_PORT_RANGE": {"DDNS_PORT_RANGE": "9-1"},
        "DDNS_MEMBERS": {"DDNS_MEMBERS": "http://members"},
        "DDNS_TREE_KEY_SECRET": {"DDNS_SECRETS": "none", "DDNS_TREE_KEY_SECRET": "k"},
        "DDNS_CERTIFICATES": {"DDNS_SECRETS": "none", "DDNS_CERTIFICATES": "on"},
        "DDNS_TREE_LINKS": {
            "DDNS_SECRETS": "file",
            "DDNS_SECRETS_DIR": str(tmp_path),
            "DDNS_TREE_KEY_SECRET": "k",
            "DDNS_TREE_LINKS": "enrtree://nope@x",
        },
        "DDNS_ZONE": {"DDNS_ZONE": "Not A Zone"},
    }
    base = {
        "DDNS_NETWORK": NETWORK,
        "DDNS_ZONE": ZONE,
        "DDNS_MEMBERS": f"file:{tmp_path / 'm.json'}",
        "DDNS_DNS_BACKEND": "memory",
        "DDNS_SQLITE_PATH": str(tmp_path / "n.db"),
        "DDNS_DNS_SERVER": "127.0.0.1",
        "DDNS_TSIG_KEY_NAME": "k",
        "DDNS_TSIG_SECRET": "c2VjcmV0",
    }
    for variable, overrides in cases.items():
        with pytest.raises(ConfigError) as failure:
            service_from_env({**base, **overrides})
        assert variable in [name for name, _ in failure.value.problems], (variable, failure.value.problems)
        assert variable in str(failure.value)


def test_the_node_listing_follows_other_instances_and_member_list_changes(tmp_path: Path) -> None:
    """The listing (and its ETag) is reused between polls only while the table rows and the member list are the
    same: a write by another instance sharing the table, or a renamed member, shows at the next poll."""
    net = Net()
    members = MemberList.from_document(net.document())
    db = tmp_path / "nodes.db"
    a, b = (
        DdnsService(zone=ZONE, store=SqliteNodeStore(db), dns=MemoryDns(), members=StaticMembers(members))
        for _ in range(2)
    )
    assert a.handle("POST", "/v1/update", signed(net.writer, PUBLIC_V4, 1).to_json().encode()).status == 200
    first = a.handle("GET", "/v1/nodes")
    etag = first.headers["ETag"]
    assert a.handle("GET", "/v1/nodes", b"", {"if-none-match": etag}).status == 304

    assert b.handle("POST", "/v1/update", signed(net.boot, PUBLIC_V4, 1).to_json().encode()).status == 200
    second = a.handle("GET", "/v1/nodes", b"", {"if-none-match": etag})
    assert second.status == 200 and second.body is not None
    assert [n["name"] for n in second.body["nodes"]] == ["boot-1", "writer-1"]

    document = net.document()
    document["nodes"][0]["name"] = "writer-renamed"
    a.members = StaticMembers(MemberList.from_document(document))
    third = a.handle("GET", "/v1/nodes", b"", {"If-None-Match": second.headers["ETag"]})
    assert third.status == 200 and third.body is not None
    assert [n["name"] for n in third.body["nodes"]] == ["boot-1", "writer-renamed"]
    assert len({first.headers["ETag"], second.headers["ETag"], third.headers["ETag"]}) == 3
