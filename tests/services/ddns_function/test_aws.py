"""AWS backends against a moto server: Route 53 record sets, the DynamoDB node table with conditional writes,
Secrets Manager for the CA, node certificates, tree key and member list; the Lambda adapter end to end."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from lacchain.ddns.certificate import new_ca
from lacchain.ddns.policy import Member, StoredNode
from lacchain.enr import Enr, EnrTree, tree_link
from lacchain.keys import NodeKey
from services.ddns_function import aws_lambda, config
from services.ddns_function.certificates import SecretStoreCertificates
from services.ddns_function.config import service_from_env
from services.ddns_function.dns_backends import Route53Dns, unquote_txt
from services.ddns_function.members import ssm_members
from services.ddns_function.secrets import AwsSecretsManager
from services.ddns_function.stores import DynamoDbNodeStore
from tests.services.ddns_function.helpers import NETWORK, PUBLIC_V4, PUBLIC_V4_NEW, PUBLIC_V6, Net, signed

pytestmark = pytest.mark.slow


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def hosted_zone(route53: Any, zone: str) -> str:
    answer = route53.create_hosted_zone(Name=zone, CallerReference=uuid.uuid4().hex)
    return str(answer["HostedZone"]["Id"]).removeprefix("/hostedzone/")


def record_sets(route53: Any, zone_id: str) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for page in route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        for rrset in page["ResourceRecordSets"]:
            if rrset["Type"] in ("A", "AAAA", "TXT"):
                values = [r["Value"] for r in rrset.get("ResourceRecords", [])]
                found[(rrset["Name"].rstrip(".").lower(), rrset["Type"])] = values
    return found


# ----------------------------------------------------------------------------------------------------------- Route 53


def test_route53_upserts_a_then_aaaa(aws_env: str) -> None:
    route53 = client("route53", aws_env)
    zone = f"{unique('z')}.example.org"
    zone_id = hosted_zone(route53, zone)
    dns = Route53Dns(route53, zone_id)
    name = f"writer-1.{zone}"
    dns.set_address(name, "A", PUBLIC_V4, 60)
    assert record_sets(route53, zone_id)[(name, "A")] == [PUBLIC_V4]
    dns.set_address(name, "A", PUBLIC_V4_NEW, 60)
    assert record_sets(route53, zone_id)[(name, "A")] == [PUBLIC_V4_NEW]
    dns.set_address(name, "AAAA", PUBLIC_V6, 60)
    sets = record_sets(route53, zone_id)
    assert sets[(name, "AAAA")] == [PUBLIC_V6]
    assert (name, "A") not in sets


def test_route53_tree_txt_records_resolve_and_stale_ones_go(aws_env: str) -> None:
    route53 = client("route53", aws_env)
    zone = f"{unique('z')}.example.org"
    zone_id = hosted_zone(route53, zone)
    dns = Route53Dns(route53, zone_id)
    domain = f"nodes.{zone}"
    key = NodeKey.generate()
    nodes = [NodeKey.generate() for _ in range(11)]
    records = [Enr.create(k, 1, ip=PUBLIC_V4, tcp=60606, udp=60606) for k in nodes[1:]]
    big = Enr.create(nodes[0], 1, ip=PUBLIC_V4, tcp=60606, extra={b"lacchain": b"m" * 120})
    records.append(big)
    assert len(big.text) > 255
    tree = EnrTree.build(records, [], 1, key)
    dns.sync_txt_tree(domain, tree.txt_records(domain), 300)
    sets = record_sets(route53, zone_id)
    leaf = next(label for label, text in tree.entries.items() if text == big.text)
    value = sets[(f"{leaf}.{domain}".lower(), "TXT")][0]
    assert value.startswith('"enr:') and '" "' in value  # two 255-byte strings
    assert all(len(part.strip('"')) <= 255 for part in value.split('" "'))

    def lookup(fqdn: str) -> str | None:
        values = record_sets(route53, zone_id).get((fqdn.lower(), "TXT"))
        return unquote_txt(values[0]) if values else None

    _, found, _ = EnrTree.resolve(tree_link(key.compressed_public_key, domain), lookup)
    assert sorted(r.enode_id for r in found) == sorted(k.node_id for k in nodes)

    smaller = EnrTree.build(records[:3], [], 2, key)  # without the big one
    dns.sync_txt_tree(domain, smaller.txt_records(domain), 300)
    txt_names = {name for name, kind in record_sets(route53, zone_id) if kind == "TXT"}
    assert txt_names == {name.lower() for name in smaller.txt_records(domain)}


# ----------------------------------------------------------------------------------------------------------- DynamoDB


def _node(node_id: str, sequence: int, host: str = PUBLIC_V4) -> StoredNode:
    return StoredNode(node_id, "writer-1", "writer", host, 60606, sequence, int(time.time()))


def test_dynamodb_conditional_writes(aws_env: str) -> None:
    dynamodb = client("dynamodb", aws_env)
    table = unique("nodes")
    DynamoDbNodeStore.create_table(dynamodb, table)
    store = DynamoDbNodeStore(dynamodb, table)
    node_id = NodeKey.generate().node_id
    assert store.get(node_id) is None
    assert store.put(_node(node_id, 5))
    assert not store.put(_node(node_id, 5, PUBLIC_V4_NEW))
    assert not store.put(_node(node_id, 4, PUBLIC_V4_NEW))
    assert store.get(node_id) == _node(node_id, 5) or store.get(node_id).host == PUBLIC_V4  # type: ignore[union-attr]
    assert store.put(_node(node_id, 6, PUBLIC_V4_NEW))
    assert store.get(node_id).host == PUBLIC_V4_NEW  # type: ignore[union-attr]

    # ENR attaches to existing rows only, with growing seq
    assert not store.put_enr(NodeKey.generate().node_id, "enr:x", 1)
    assert store.put_enr(node_id, "enr:a", 2)
    assert not store.put_enr(node_id, "enr:b", 2)
    assert store.get(node_id).enr == "enr:a"  # type: ignore[union-attr]
    assert store.put(_node(node_id, 7))  # an address update keeps the ENR
    assert store.get(node_id).enr == "enr:a"  # type: ignore[union-attr]

    assert [store.next_tree_sequence() for _ in range(3)] == [1, 2, 3]
    assert store.tree_sequence() == 3
    assert [n.node_id for n in store.all()] == [node_id]


def test_dynamodb_concurrent_updates_never_lower_the_sequence(aws_env: str) -> None:
    dynamodb = client("dynamodb", aws_env)
    table = unique("nodes")
    DynamoDbNodeStore.create_table(dynamodb, table)
    node_id = NodeKey.generate().node_id
    results: dict[int, bool] = {}

    def write(sequence: int) -> None:
        store = DynamoDbNodeStore(client("dynamodb", aws_env), table)
        results[sequence] = store.put(_node(node_id, sequence, f"1.1.1.{sequence}"))

    threads = [threading.Thread(target=write, args=(s,)) for s in range(1, 21)]
    for thread in threads[::-1]:
        thread.start()
    for thread in threads:
        thread.join()
    stored = DynamoDbNodeStore(dynamodb, table).get(node_id)
    assert stored is not None and stored.sequence == 20 and stored.host == "1.1.1.20"
    assert results[20] is True


# ------------------------------------------------------------------------------------------------ Secrets Manager


def test_certificates_are_reissued_from_the_ca_in_secrets_manager(aws_env: str) -> None:
    secrets = AwsSecretsManager(client("secretsmanager", aws_env))
    network = unique("net")
    ca = new_ca(f"{network} TM CA")
    secrets.put(f"lacchain/{network}/tm-ca", ca.to_json())
    issuer = SecretStoreCertificates(secrets, network)
    member = Member(NodeKey.generate().node_id, "writer-1", "writer", True)
    issuer.reissue(member, "writer-1.lacchain.example.org", PUBLIC_V4)
    first = json.loads(secrets.get(f"lacchain/{network}/nodes/writer-1/tm-tls") or "{}")
    issuer.reissue(member, "writer-1.lacchain.example.org", PUBLIC_V6)
    second = json.loads(secrets.get(f"lacchain/{network}/nodes/writer-1/tm-tls") or "{}")

    assert second["privateKey"] == first["privateKey"]  # the key is kept, the certificate follows the address
    assert second["caCertificate"] == ca.certificate_pem
    certificate = x509.load_pem_x509_certificate(second["certificate"].encode())
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["writer-1.lacchain.example.org"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [PUBLIC_V6]
    ca_certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
    certificate.verify_directly_issued_by(ca_certificate)
    public = ca_certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)


def test_ssm_member_list(aws_env: str) -> None:
    ssm = client("ssm", aws_env)
    name = f"/lacchain/{unique('net')}/members"
    net = Net()
    ssm.put_parameter(Name=name, Value=json.dumps(net.document()), Type="SecureString")
    members = ssm_members(ssm, name).load()
    assert members.network == NETWORK and members.get(net.writer.node_id).name == "writer-1"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------ Lambda end to end


@pytest.fixture()
def aws_function(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fully configured function on moto: DynamoDB table, hosted zone, CA, tree key and member list secrets."""
    net = Net()
    route53, dynamodb = client("route53", aws_env), client("dynamodb", aws_env)
    secrets = AwsSecretsManager(client("secretsmanager", aws_env))
    zone = f"{unique('z')}.example.org"
    zone_id = hosted_zone(route53, zone)
    table = unique("nodes")
    DynamoDbNodeStore.create_table(dynamodb, table)
    network_secret = unique("lacchain")
    tree_key = NodeKey.generate()
    secrets.put(f"{network_secret}/tm-ca", new_ca("test CA").to_json())
    secrets.put(f"{network_secret}/tree-key", tree_key.hex)
    secrets.put(f"{network_secret}/members", json.dumps(net.document()))
    env = {
        "DDNS_NETWORK": NETWORK,
        "DDNS_ZONE": zone,
        "DDNS_MEMBERS": f"secret:{network_secret}/members",
        "DDNS_STORE": "dynamodb",
        "DDNS_TABLE": table,
        "DDNS_DNS_BACKEND": "route53",
        "DDNS_ROUTE53_ZONE_ID": zone_id,
        "DDNS_SECRETS": "aws",
        "DDNS_CA_SECRET": f"{network_secret}/tm-ca",
        "DDNS_NODE_CERT_SECRET": network_secret + "/nodes/{name}/tm-tls",
        "DDNS_TREE_KEY_SECRET": f"{network_secret}/tree-key",
        "AWS_ENDPOINT_URL": aws_env,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(config, "_shared", None)
    return {
        "net": net,
        "zone": zone,
        "zone_id": zone_id,
        "table": table,
        "route53": route53,
        "store": DynamoDbNodeStore(dynamodb, table),
        "secrets": secrets,
        "prefix": network_secret,
        "tree_key": tree_key,
        "env": env,
    }


def event(
    method: str, path: str, body: str | bytes = "", b64: bool = False, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    raw = base64.b64encode(body if isinstance(body, bytes) else body.encode()).decode() if b64 else body
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "8.8.8.8"}},
        "body": raw,
        "isBase64Encoded": b64,
    }


def call(method: str, path: str, body: str | bytes = "", b64: bool = False) -> tuple[int, Any]:
    answer = aws_lambda.handler(event(method, path, body, b64), None)
    return answer["statusCode"], json.loads(answer["body"])


def test_lambda_end_to_end(aws_function: dict[str, Any]) -> None:
    net: Net = aws_function["net"]
    zone, zone_id, route53 = aws_function["zone"], aws_function["zone_id"], aws_function["route53"]
    status, body = call("POST", "/v1/update", signed(net.writer, PUBLIC_V4, 1).to_json())
    assert (status, body) == (200, {"accepted": True, "name": f"writer-1.{zone}", "sequence": 1})
    assert record_sets(route53, zone_id)[(f"writer-1.{zone}", "A")] == [PUBLIC_V4]
    certificate = json.loads(aws_function["secrets"].get(f"{aws_function['prefix']}/nodes/writer-1/tm-tls"))
    assert certificate["host"] == PUBLIC_V4

    # base64 bodies (binary media types) are decoded
    status, _ = call("POST", "/v1/update", signed(net.validator, PUBLIC_V6, 1).to_json(), b64=True)
    assert status == 200
    assert record_sets(route53, zone_id)[(f"validator-1.{zone}", "AAAA")] == [PUBLIC_V6]
    assert aws_function["secrets"].get(f"{aws_function['prefix']}/nodes/validator-1/tm-tls") is None  # no TM

    enr = Enr.create(net.writer, 1, ip=PUBLIC_V4, tcp=60606, udp=60606)
    assert call("POST", "/v1/enr", json.dumps({"enr": enr.text}))[0] == 200

    status, listing = call("GET", "/v1/nodes")
    assert status == 200
    assert [n["name"] for n in listing["nodes"]] == ["validator-1", "writer-1"]
    assert listing["enrTree"] == tree_link(aws_function["tree_key"].compressed_public_key, f"nodes.{zone}")

    def lookup(fqdn: str) -> str | None:
        values = record_sets(route53, zone_id).get((fqdn.lower(), "TXT"))
        return unquote_txt(values[0]) if values else None

    _, found, _ = EnrTree.resolve(listing["enrTree"], lookup)
    assert [r.enode_id for r in found] == [net.writer.node_id]
    assert call("GET", "/healthz")[0] == 200

    # Conditional GET: Function URL events carry lower-case header names.
    full = aws_lambda.handler(event("GET", "/v1/nodes"), None)
    etag = full["headers"]["ETag"]
    assert etag == '"' + hashlib.sha256(full["body"].encode()).hexdigest() + '"'
    assert full["headers"]["Cache-Control"] == "no-cache"
    not_modified = aws_lambda.handler(event("GET", "/v1/nodes", headers={"if-none-match": etag}), None)
    assert (not_modified["statusCode"], not_modified["body"]) == (304, "")
    assert not_modified["headers"]["ETag"] == etag
    assert call("POST", "/v1/update", signed(net.writer, PUBLIC_V4_NEW, 2).to_json())[0] == 200
    changed = aws_lambda.handler(event("GET", "/v1/nodes", headers={"if-none-match": etag}), None)
    assert changed["statusCode"] == 200 and changed["headers"]["ETag"] != etag


def test_lambda_refusals_leave_table_and_dns_unchanged(aws_function: dict[str, Any]) -> None:
    net: Net = aws_function["net"]
    route53, zone_id, store = aws_function["route53"], aws_function["zone_id"], aws_function["store"]
    assert call("POST", "/v1/update", signed(net.writer, PUBLIC_V4, 3).to_json())[0] == 200
    before = (store.all(), record_sets(route53, zone_id))
    forged = signed(net.writer, PUBLIC_V4_NEW, 4)
    forged_bytes = bytearray(forged.signature)
    forged_bytes[5] ^= 0xFF
    cases = [
        (json.dumps({"update": forged.update.payload(), "signature": "0x" + bytes(forged_bytes).hex()}), 401),
        (signed(net.boot, PUBLIC_V4_NEW, 4, node_id=net.writer.node_id).to_json(), 401),
        (signed(net.outsider, PUBLIC_V4_NEW, 4).to_json(), 403),
        (signed(net.writer, PUBLIC_V4_NEW, 3).to_json(), 409),
        (signed(net.writer, PUBLIC_V4_NEW, 2).to_json(), 409),
        (signed(net.writer, PUBLIC_V4_NEW, 4, timestamp=int(time.time()) - 3600).to_json(), 409),
        (signed(net.writer, PUBLIC_V4_NEW, 4, timestamp=int(time.time()) + 3600).to_json(), 400),
        (signed(net.writer, "172.16.5.4", 4).to_json(), 422),
        ("{garbage", 400),
        ("x" * 100_000, 413),
    ]
    for body, expected in cases:
        status, answer = call("POST", "/v1/update", body)
        assert status == expected, (body[:80], answer)
        assert set(answer["error"]) == {"field", "problem"}
    assert (store.all(), record_sets(route53, zone_id)) == before


def test_lambda_configuration_errors_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.ddns_function.config import ConfigError

    with pytest.raises(ConfigError) as failure:
        service_from_env({"DDNS_DNS_BACKEND": "route53", "DDNS_STORE": "dynamodb", "DDNS_WINDOW_SECONDS": "soon"})
    names = {name for name, _ in failure.value.problems}
    assert {"DDNS_NETWORK", "DDNS_ZONE", "DDNS_MEMBERS", "DDNS_TABLE", "DDNS_ROUTE53_ZONE_ID"} <= names
    assert "DDNS_WINDOW_SECONDS" in names
    monkeypatch.setattr(config, "_shared", None)
    for name in ("DDNS_NETWORK", "DDNS_ZONE", "DDNS_MEMBERS", "DDNS_DNS_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    answer = aws_lambda.handler(event("GET", "/healthz"), None)
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"])["error"]["field"] == "configuration"
