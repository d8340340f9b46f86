"""DdnsZone under Pulumi mocks (``lacchain_cli.synth.run_program``): what each platform would be asked to create,
how narrowly the function's identity is scoped, that no secret is in a plain input, and that the settings handed to
the function are ones the function itself accepts and works with (against moto and a real BIND 9)."""

from __future__ import annotations

import ast
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import kubernetes_validate
import parliament
import pulumi
import pytest
from parliament import analyze_policy_string, enhance_finding, override_config

from components.ddns_zone import (
    CLOUD_DNS_PERMISSIONS,
    GCP_ENTRY_POINT,
    LAMBDA_HANDLER,
    DdnsPlatform,
    DdnsSettings,
    DdnsZone,
    DdnsZoneArgs,
    OnPremDns,
    OnPremKubernetes,
    aws_function_policy,
    function_sources,
    gcp_main_py,
)
from lacchain.ddns.certificate import new_ca
from lacchain.ddns.update import AddressUpdate
from lacchain.enr import tree_link
from lacchain.errors import InvalidInput
from lacchain.keys import NodeKey
from lacchain_cli.synth import SECRET, RecordedResource, SynthResult, run_program
from services.ddns_function.config import service_from_env
from services.ddns_function.secrets import gcp_secret_id
from services.ddns_function.stores import DynamoDbNodeStore
from tests.standins import ROOT

NETWORK = "acme-net"
ZONE = "nodes.acme.example.org"
ACCOUNT = "123456789012"
K8S_VERSION = "1.33"
SEVERITIES = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
KEYS = {name: NodeKey.generate() for name in ("writer-1", "writer-2", "validator-1", "boot-1")}
TREE_KEY = NodeKey.generate()
CA = new_ca("acme test CA").to_json()


def members(network: str = NETWORK) -> dict[str, Any]:
    return {
        "network": network,
        "nodes": [
            {"nodeId": key.node_id, "name": name, "role": name.split("-")[0]} for name, key in sorted(KEYS.items())
        ],
    }


def aws_args(**overrides: Any) -> DdnsZoneArgs:
    base: dict[str, Any] = {
        "network": NETWORK,
        "zone": ZONE,
        "platform": DdnsPlatform.AWS,
        "members": members(),
        "aws_region": "us-east-1",
        "lambda_layers": ["arn:aws:lambda:us-east-1:123456789012:layer:lacchain-ddns-deps:3"],
    }
    return DdnsZoneArgs(**{**base, **overrides})


def synth(make: Callable[[], DdnsZoneArgs]) -> SynthResult:
    def program() -> None:
        zone = DdnsZone("ddns", make())
        pulumi.export("update_url", zone.update_url)
        pulumi.export("zone_name", zone.zone_name)
        pulumi.export("name_servers", zone.name_servers)
        pulumi.export("enr_tree_url", zone.enr_tree_url)
        pulumi.export("enr_tree_domain", zone.enr_tree_domain)
        pulumi.export("function_environment", zone.function_environment)
        pulumi.export("tsig_secret", zone.tsig_secret)

    return run_program("test", {}, program)


def of_type(result: SynthResult, resource_type: str) -> list[RecordedResource]:
    return [r for r in result.resources if r.type == resource_type]


def one(result: SynthResult, resource_type: str, name: str | None = None) -> RecordedResource:
    found = [r for r in of_type(result, resource_type) if name is None or r.name == name]
    assert len(found) == 1, (resource_type, name, [r.name for r in of_type(result, resource_type)])
    return found[0]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def assert_no_secret_in_plain(result: SynthResult) -> None:
    """Neither the tree key, the CA key nor the TSIG key appears in any recorded input or output."""
    secrets = [TREE_KEY.hex, TREE_KEY.hex[2:], json.loads(CA)["privateKey"], TSIG]
    everything = list(strings([r.inputs for r in result.resources])) + list(strings(result.outputs))
    for text in everything:
        for secret in secrets:
            assert secret not in text


def findings(policy: dict[str, Any], community: bool) -> list[tuple[str, str]]:
    override_config(str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"))
    analyzed = analyze_policy_string(json.dumps(policy), include_community_auditors=community)
    return [(f.issue, f.severity) for f in (enhance_finding(f) for f in analyzed.findings)]


def above(found: list[tuple[str, str]], level: str) -> list[tuple[str, str]]:
    return [f for f in found if SEVERITIES.index(f[1]) > SEVERITIES.index(level)]


# ----------------------------------------------------------------------------------------------------------------- aws


@pytest.fixture(scope="module")
def aws_result() -> SynthResult:
    return synth(lambda: aws_args(tree_key=pulumi.Output.secret(TREE_KEY.hex), ca=pulumi.Output.secret(CA)))


def test_aws_creates_zone_table_secrets_function_and_public_url(aws_result: SynthResult) -> None:
    zone = one(aws_result, "aws:route53/zone:Zone")
    assert zone.inputs["name"] == ZONE and zone.protect and zone.retain_on_delete
    table = one(aws_result, "aws:dynamodb/table:Table")
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["hashKey"] == "nodeId" and table.inputs["attributes"] == [{"name": "nodeId", "type": "S"}]
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert table.inputs["deletionProtectionEnabled"] is True and table.protect
    secrets = {s.inputs["name"]: s for s in of_type(aws_result, "aws:secretsmanager/secret:Secret")}
    assert set(secrets) == {
        f"lacchain/{NETWORK}/members",
        f"lacchain/{NETWORK}/tm-ca",
        f"lacchain/{NETWORK}/enrtree-key",
    }
    assert secrets[f"lacchain/{NETWORK}/tm-ca"].protect and secrets[f"lacchain/{NETWORK}/enrtree-key"].protect
    versions = {v.name: v for v in of_type(aws_result, "aws:secretsmanager/secretVersion:SecretVersion")}
    # The member list is not secret (ids, names, roles), but the provider keeps every secret payload secret.
    assert versions["ddns-members"].inputs["secretString"] == SECRET
    assert versions["ddns-ca"].inputs["secretString"] == SECRET
    assert versions["ddns-tree-key"].inputs["secretString"] == SECRET

    function = one(aws_result, "aws:lambda/function:Function")
    assert function.inputs["handler"] == LAMBDA_HANDLER and function.inputs["runtime"] == "python3.11"
    assert function.inputs["layers"] == ["arn:aws:lambda:us-east-1:123456789012:layer:lacchain-ddns-deps:3"]
    assert function.inputs["reservedConcurrentExecutions"] == 20
    assert function.inputs["loggingConfig"]["logGroup"] == "/aws/lambda/lacchain-ddns-acme-net"
    url = one(aws_result, "aws:lambda/functionUrl:FunctionUrl")
    assert url.inputs["authorizationType"] == "NONE"
    permissions = {p.inputs["action"]: p.inputs for p in of_type(aws_result, "aws:lambda/permission:Permission")}
    assert permissions["lambda:InvokeFunctionUrl"]["functionUrlAuthType"] == "NONE"
    assert permissions["lambda:InvokeFunction"]["invokedViaFunctionUrl"] is True
    assert {p["principal"] for p in permissions.values()} == {"*"}
    logs = one(aws_result, "aws:cloudwatch/logGroup:LogGroup")
    assert logs.inputs["retentionInDays"] == 90

    outputs = aws_result.outputs
    assert outputs["update_url"].startswith("https://") and outputs["update_url"].endswith(".on.aws")
    assert outputs["zone_name"] == ZONE and len(outputs["name_servers"]) == 2
    assert outputs["enr_tree_url"] == tree_link(TREE_KEY.compressed_public_key, f"nodes.{ZONE}")  # public, unsecret
    assert_no_secret_in_plain(aws_result)


def test_the_lambda_handler_is_in_the_package_and_is_the_adapters_entry_point() -> None:
    module, _, attribute = LAMBDA_HANDLER.rpartition(".")
    path = module.replace(".", "/") + ".py"
    files = function_sources(ROOT)
    assert path in files and files[path] == ROOT / "services" / "ddns_function" / "aws_lambda.py"
    tree = ast.parse(files[path].read_text())
    assert attribute in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "lacchain/enr.py" in files and "lacchain/ddns/update.py" in files
    assert not [p for p in files if "__pycache__" in p or p.endswith(".pyc")]
    gcp_module = ast.parse(gcp_main_py())
    imported = [n for n in gcp_module.body if isinstance(n, ast.ImportFrom)]
    assert imported[0].module == "services.ddns_function.gcp_function"
    assert [a.name for a in imported[0].names] == [GCP_ENTRY_POINT]
    gcp_adapter = ast.parse((ROOT / "services" / "ddns_function" / "gcp_function.py").read_text())
    assert GCP_ENTRY_POINT in {n.name for n in gcp_adapter.body if isinstance(n, ast.FunctionDef)}


def test_the_function_policy_names_only_its_zone_table_secrets_and_log_group(aws_result: SynthResult) -> None:
    zone_id = one(aws_result, "aws:route53/zone:Zone")
    policy = json.loads(one(aws_result, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    env = aws_result.outputs["function_environment"]
    assert statements["OwnZoneRecords"]["Resource"] == f"arn:aws:route53:::hostedzone/{env['DDNS_ROUTE53_ZONE_ID']}"
    assert zone_id.inputs["name"] == ZONE
    assert statements["NodeTable"]["Resource"] == f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/lacchain-ddns-{NETWORK}"
    assert statements["NodeTable"]["Action"] == ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"]
    secret_arns = {s.inputs["name"]: s for s in of_type(aws_result, "aws:secretsmanager/secret:Secret")}
    assert len(statements["ReadNetworkSecrets"]["Resource"]) == 3  # members, CA, tree key (given: read only)
    for resource in statements["ReadNetworkSecrets"]["Resource"]:
        assert resource.startswith(f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:lacchain/{NETWORK}/")
    assert len(secret_arns) == 3
    assert statements["WriteOwnSecrets"]["Resource"] == [
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:lacchain/{NETWORK}/nodes/*"
    ]
    assert statements["OwnLogGroup"]["Resource"] == (
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/lacchain-ddns-{NETWORK}:log-stream:*"
    )
    assert "*" not in [r for s in policy["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str)
                                                                  else s["Resource"])]  # fmt: skip
    trust = json.loads(one(aws_result, "aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


def test_the_function_policy_calls_exactly_what_the_aws_backends_call() -> None:
    """Each granted action is a call the function's AWS code makes (boto3 method names), and each call is granted."""
    sources = "".join(
        (ROOT / "services" / "ddns_function" / f).read_text() for f in ("dns_backends.py", "stores.py", "secrets.py")
    )
    policy = aws_function_policy(
        partition="aws", zone_id="Z1", table_arn="t", read_secrets=["r"], write_secrets=["w"], log_group_arn="l"
    )
    granted = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}

    def snake(action: str) -> str:
        name = action.split(":")[1]
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")

    for action in granted - {"logs:CreateLogStream", "logs:PutLogEvents"}:  # the Lambda runtime's own logging
        assert f"{snake(action)}(" in sources or f'"{snake(action)}"' in sources, action
    for call in ("change_resource_record_sets", "list_resource_record_sets", "get_item", "update_item", "scan",
                 "get_secret_value", "put_secret_value", "create_secret"):  # fmt: skip
        assert call in {snake(a) for a in granted}, call


def test_every_generated_aws_policy_passes_parliament(aws_result: SynthResult) -> None:
    for result in (aws_result, synth(aws_args)):
        for resource in of_type(result, "aws:iam/rolePolicy:RolePolicy"):
            document = json.loads(resource.inputs["policy"])
            assert above(findings(document, community=False), "LOW") == []
            assert above(findings(document, community=True), "LOW") == []
            assert findings(document, community=True) == []  # not even a LOW finding
    # The role's trust policy is not an identity policy (it has a Principal and no Resource), which parliament does
    # not audit (it reports any policy without Resource as MALFORMED); its exact content is asserted above instead.


def test_the_parliament_checks_can_fail() -> None:
    careless = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:*", "Resource": "*"}]}
    assert findings(careless, community=True) != []
    mismatched = aws_function_policy(
        partition="aws",
        zone_id="Z1",
        table_arn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:x",
        read_secrets=[f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:x"],
        write_secrets=[],
        log_group_arn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:x",
    )
    assert above(findings(mismatched, community=False), "LOW") != []  # a table grant on a log group is refused


def test_without_a_tree_key_the_function_makes_it_and_may_write_only_that_secret() -> None:
    result = synth(aws_args)
    env = result.outputs["function_environment"]
    assert env["DDNS_TREE_KEY_CREATE"] == "on" and env["DDNS_CERTIFICATES"] == "off"
    assert result.outputs["enr_tree_url"] is None and result.outputs["enr_tree_domain"] == f"nodes.{ZONE}"
    assert [v.name for v in of_type(result, "aws:secretsmanager/secretVersion:SecretVersion")] == ["ddns-members"]
    policy = json.loads(one(result, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    tree = [r for r in statements["WriteOwnSecrets"]["Resource"] if "enrtree-key" in r]
    assert len(tree) == 1 and not [r for r in statements["ReadNetworkSecrets"]["Resource"] if "enrtree-key" in r]


def test_an_existing_hosted_zone_is_used_not_created() -> None:
    result = synth(lambda: aws_args(existing_zone_id="Z0EXISTING"))
    assert not of_type(result, "aws:route53/zone:Zone")
    assert result.outputs["function_environment"]["DDNS_ROUTE53_ZONE_ID"] == "Z0EXISTING"
    assert result.outputs["name_servers"] == ["ns-1.awsdns-00.com", "ns-2.awsdns-00.net"]
    policy = json.loads(one(result, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert policy["Statement"][0]["Resource"] == "arn:aws:route53:::hostedzone/Z0EXISTING"


@pytest.mark.slow
def test_the_lambda_settings_work_with_the_function_against_moto(aws_result: SynthResult, aws_env: str) -> None:
    """The component's environment, with the moto-created zone and table in place of the cloud's, builds a service
    that accepts a signed update: every variable name and value is one the function understands."""
    env = dict(aws_result.outputs["function_environment"])
    route53 = boto3.client("route53", endpoint_url=aws_env)
    zone_id = route53.create_hosted_zone(Name=ZONE, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"]
    table = f"lacchain-ddns-{uuid.uuid4().hex[:8]}"
    DynamoDbNodeStore.create_table(boto3.client("dynamodb", endpoint_url=aws_env), table)
    prefix = uuid.uuid4().hex[:8]  # the session's moto is shared: keep this test's secrets apart
    secrets = boto3.client("secretsmanager", endpoint_url=aws_env)
    for name, value in (("members", json.dumps(members())), ("tm-ca", CA), ("enrtree-key", TREE_KEY.hex)):
        secrets.create_secret(Name=f"{prefix}/{name}", SecretString=value)
    env |= {
        "DDNS_ROUTE53_ZONE_ID": zone_id.removeprefix("/hostedzone/"),
        "DDNS_TABLE": table,
        "DDNS_MEMBERS": env["DDNS_MEMBERS"].replace(f"lacchain/{NETWORK}", prefix),
        "DDNS_CA_SECRET": f"{prefix}/tm-ca",
        "DDNS_TREE_KEY_SECRET": f"{prefix}/enrtree-key",
        "DDNS_NODE_CERT_SECRET": f"{prefix}/nodes/{{name}}/tm-tls",
        "AWS_ENDPOINT_URL": aws_env,
    }
    service = service_from_env(env)
    update = AddressUpdate(NETWORK, KEYS["writer-1"].node_id, "8.8.4.4", 60606, 1, int(time.time()))
    response = service.handle("POST", "/v1/update", update.sign(KEYS["writer-1"]).to_json().encode())
    assert response.status == 200, response.body
    assert service.enr_tree_link() == aws_result.outputs["enr_tree_url"]
    assert json.loads(secrets.get_secret_value(SecretId=f"{prefix}/nodes/writer-1/tm-tls")["SecretString"])["host"] == (
        "8.8.4.4"
    )


# ----------------------------------------------------------------------------------------------------------------- gcp


def gcp_args(**overrides: Any) -> DdnsZoneArgs:
    base: dict[str, Any] = {
        "network": NETWORK,
        "zone": ZONE,
        "platform": DdnsPlatform.GCP,
        "members": members(),
        "gcp_project": "acme-prod",
        "gcp_region": "southamerica-east1",
        "certificates": True,
    }
    return DdnsZoneArgs(**{**base, **overrides})


def test_gcp_scopes_the_function_to_its_zone_and_its_secrets() -> None:
    result = synth(lambda: gcp_args(tree_key=pulumi.Output.secret(TREE_KEY.hex)))
    zone = one(result, "gcp:dns/managedZone:ManagedZone")
    assert zone.inputs["dnsName"] == f"{ZONE}." and zone.inputs["visibility"] == "public" and zone.protect
    role = one(result, "gcp:projects/iAMCustomRole:IAMCustomRole")
    assert sorted(role.inputs["permissions"]) == sorted(CLOUD_DNS_PERMISSIONS)
    binding = one(result, "gcp:dns/dnsManagedZoneIamMember:DnsManagedZoneIamMember")
    assert binding.inputs["managedZone"] == zone.inputs["name"]
    assert binding.inputs["role"] == f"projects/acme-prod/roles/{role.inputs['roleId']}"
    account = one(result, "gcp:serviceaccount/account:Account")
    email = f"{account.inputs['accountId']}@acme-prod.iam.gserviceaccount.com"
    assert binding.inputs["member"] == f"serviceAccount:{email}"
    # Nothing at project level: no project IAM binding of any role to the function.
    assert not [r for r in result.resources if r.type.startswith("gcp:projects/iAM") and "Member" in r.type]

    secrets = {s.inputs["secretId"]: s for s in of_type(result, "gcp:secretmanager/secret:Secret")}
    expected = {gcp_secret_id(f"lacchain/{NETWORK}/{n}") for n in ("members", "tm-ca", "enrtree-key")} | {
        gcp_secret_id(f"lacchain/{NETWORK}/nodes/writer-{i}/tm-tls") for i in (1, 2)
    }  # the TM nodes only
    assert set(secrets) == expected
    grants: dict[str, set[str]] = {}
    for grant in of_type(result, "gcp:secretmanager/secretIamMember:SecretIamMember"):
        assert grant.inputs["member"] == f"serviceAccount:{email}"
        grants.setdefault(grant.inputs["secretId"], set()).add(grant.inputs["role"])
    reader, adder = "roles/secretmanager.secretAccessor", "roles/secretmanager.secretVersionAdder"
    assert grants[gcp_secret_id(f"lacchain/{NETWORK}/tm-ca")] == {reader}  # never writes the CA
    assert grants[gcp_secret_id(f"lacchain/{NETWORK}/enrtree-key")] == {reader}  # given: never writes it
    assert grants[gcp_secret_id(f"lacchain/{NETWORK}/nodes/writer-1/tm-tls")] == {reader, adder}
    versions = of_type(result, "gcp:secretmanager/secretVersion:SecretVersion")
    assert {v.name: v.inputs["secretData"] == SECRET for v in versions} == {
        "ddns-members": True,  # the provider keeps every secret payload secret
        "ddns-tree-key": True,
    }

    function = one(result, "gcp:cloudfunctionsv2/function:Function")
    build, service = function.inputs["buildConfig"], function.inputs["serviceConfig"]
    assert (build["runtime"], build["entryPoint"]) == ("python311", GCP_ENTRY_POINT)
    source = one(result, "gcp:storage/bucketObject:BucketObject")
    assert build["source"]["storageSource"]["object"] == source.inputs["name"]
    assert source.inputs["name"].startswith("ddns-function-") and source.inputs["name"].endswith(".zip")
    bucket = one(result, "gcp:storage/bucket:Bucket")
    assert bucket.inputs["publicAccessPrevention"] == "enforced" and bucket.inputs["uniformBucketLevelAccess"]
    assert service["serviceAccountEmail"] == email and service["maxInstanceCount"] == 1
    env = service["environmentVariables"]
    assert (env["DDNS_SECRETS"], env["DDNS_DNS_BACKEND"], env["DDNS_GCP_MANAGED_ZONE"]) == (
        "gcp",
        "clouddns",
        zone.inputs["name"],
    )
    invoker = one(result, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert (invoker.inputs["role"], invoker.inputs["member"]) == ("roles/run.invoker", "allUsers")
    assert result.outputs["update_url"].startswith("https://")
    assert result.outputs["enr_tree_url"] == tree_link(TREE_KEY.compressed_public_key, f"nodes.{ZONE}")
    assert_no_secret_in_plain(result)


def test_gcp_lets_the_function_add_the_tree_key_only_when_it_generates_it() -> None:
    result = synth(lambda: gcp_args(certificates=False, existing_zone_id="acme-zone"))
    assert not of_type(result, "gcp:dns/managedZone:ManagedZone")
    assert one(result, "gcp:dns/dnsManagedZoneIamMember:DnsManagedZoneIamMember").inputs["managedZone"] == "acme-zone"
    grants = {
        (g.inputs["secretId"], g.inputs["role"])
        for g in of_type(result, "gcp:secretmanager/secretIamMember:SecretIamMember")
    }
    tree = gcp_secret_id(f"lacchain/{NETWORK}/enrtree-key")
    assert (tree, "roles/secretmanager.secretVersionAdder") in grants
    assert not [s for s, _ in grants if "tm-tls" in s]  # certificates off: no node certificate secrets
    assert result.outputs["enr_tree_url"] is None


# ------------------------------------------------------------------------------------------------------------- on-prem

TSIG = "c2VjcmV0LXRzaWcta2V5LWZvci10ZXN0cw=="


def onprem_args(**overrides: Any) -> DdnsZoneArgs:
    base: dict[str, Any] = {
        "network": NETWORK,
        "zone": ZONE,
        "platform": DdnsPlatform.ONPREM,
        "members": members(),
        "onprem_dns": OnPremDns(
            "192.0.2.53:53", "ddns-key.", pulumi.Output.secret(TSIG), server_zone="acme.example.org"
        ),
        "update_url": "https://ddns.acme.example.org",
        "settings": DdnsSettings(allowed_private_cidrs=("10.20.0.0/16",)),
    }
    return DdnsZoneArgs(**{**base, **overrides})


def test_onprem_outputs_the_servers_settings_and_keeps_the_tsig_key_secret() -> None:
    result = synth(onprem_args)
    assert [r.type for r in result.resources] == ["lacchain:index:DdnsZone"]
    env = result.outputs["function_environment"]
    assert env["DDNS_DNS_BACKEND"] == "rfc2136" and env["DDNS_DNS_SERVER"] == "192.0.2.53:53"
    assert env["DDNS_TSIG_KEY_NAME"] == "ddns-key." and env["DDNS_DNS_ZONE"] == "acme.example.org"
    assert env["DDNS_ALLOWED_PRIVATE_CIDRS"] == "10.20.0.0/16"
    assert "DDNS_TSIG_SECRET" not in env
    assert result.outputs["tsig_secret"] == SECRET
    assert result.outputs["update_url"] == "https://ddns.acme.example.org"
    assert_no_secret_in_plain(result)


@pytest.mark.slow
def test_the_onprem_settings_work_with_the_function_against_bind(tmp_path: Path) -> None:
    from tests.services.ddns_function.conftest import bind_server

    with bind_server() as bind:
        zone = f"ddns.{bind.zone}"
        captured: dict[str, Any] = {}

        def program() -> None:
            args = onprem_args(
                zone=zone,
                onprem_dns=OnPremDns(f"{bind.host}:{bind.port}", bind.key.name, bind.key.secret, server_zone=bind.zone),
                settings=DdnsSettings(),
            )
            made = DdnsZone("ddns", args)
            made.function_environment.apply(captured.update)

        run_program("test", {}, program)
        (tmp_path / "members.json").write_text(json.dumps(members()))
        env = {
            **captured,
            "DDNS_TSIG_SECRET": bind.key.secret,  # what tsig_secret holds, given to the server as a secret
            "DDNS_MEMBERS": f"file:{tmp_path / 'members.json'}",
            "DDNS_SQLITE_PATH": str(tmp_path / "nodes.db"),
            "DDNS_SECRETS_DIR": str(tmp_path / "secrets"),
        }
        service = service_from_env(env)
        update = AddressUpdate(NETWORK, KEYS["boot-1"].node_id, "8.8.4.4", 60606, 1, int(time.time()))
        assert service.handle("POST", "/v1/update", update.sign(KEYS["boot-1"]).to_json().encode()).status == 200
        import dns.message
        import dns.query

        answer = dns.query.tcp(dns.message.make_query(f"boot-1.{zone}", "A"), bind.host, port=bind.port, timeout=2)
        assert [item.to_text() for rrset in answer.answer for item in rrset] == ["8.8.4.4"]
        assert (tmp_path / "secrets" / f"lacchain/{NETWORK}/enrtree-key").exists()  # made on first use


def test_onprem_on_kubernetes_renders_valid_manifests_with_secrets_kept_out() -> None:
    kube = OnPremKubernetes(image="registry.example.org/lacchain/ddns-function:0.1.0", namespace="lacchain-dns")
    result = synth(lambda: onprem_args(kubernetes=kube, ca=pulumi.Output.secret(CA),
                                       tree_key=pulumi.Output.secret(TREE_KEY.hex)))  # fmt: skip
    manifests = [r for r in result.resources if r.type.startswith("kubernetes:")]
    assert sorted(r.type for r in manifests) == [
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:core/v1:PersistentVolumeClaim",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:Service",
    ]
    for resource in manifests:
        kubernetes_validate.validate(resource.inputs, K8S_VERSION, strict=True)
    secret = one(result, "kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"] == {"tsig-secret": SECRET, "tm-ca": SECRET, "enrtree-key": SECRET}
    deployment = one(result, "kubernetes:apps/v1:Deployment")
    spec = deployment.inputs["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "services.ddns_function.http_server"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["DDNS_TSIG_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "tsig-secret"
    assert "value" not in env["DDNS_TSIG_SECRET"]
    assert env["DDNS_SECRETS_READONLY_DIR"]["value"] == "/etc/lacchain-ddns/keys"
    keys = next(v for v in pod["volumes"] if v["name"] == "keys")["secret"]["items"]
    assert {k["key"]: k["path"] for k in keys} == {
        "tm-ca": f"lacchain/{NETWORK}/tm-ca",
        "enrtree-key": f"lacchain/{NETWORK}/enrtree-key",
    }
    assert env["DDNS_CA_SECRET"]["value"] == f"lacchain/{NETWORK}/tm-ca"  # read through the read-only directory
    assert result.outputs["update_url"] == "https://ddns.acme.example.org"
    assert_no_secret_in_plain(result)


# ---------------------------------------------------------------------------------------------------------- arguments


def test_bad_arguments_are_all_reported_before_anything_is_created() -> None:
    with pytest.raises(InvalidInput) as failure:
        DdnsZoneArgs(
            network="Acme Net",
            zone="not a zone",
            platform=DdnsPlatform.GCP,
            members=members("other-net"),
            settings=DdnsSettings(
                window_seconds=0,
                port_range=(70000, 1),
                allowed_private_cidrs=("10.0.0.1/8",),
                tree_links=("enrtree://nope",),
            ),
            kubernetes=OnPremKubernetes(image="x", namespace="y"),
        ).validate()
    fields = {p.field for p in failure.value.problems}
    assert {
        "network",
        "zone",
        "members.network",
        "settings.windowSeconds",
        "settings.portRange",
        "settings.allowedPrivateCidrs",
        "settings.treeLinks",
        "gcpProject",
        "gcpRegion",
        "kubernetes",
    } <= fields
    with pytest.raises(InvalidInput, match="nodes"):
        DdnsZoneArgs(NETWORK, ZONE, DdnsPlatform.AWS, {"network": NETWORK, "nodes": [{"nodeId": "x"}]},
                     aws_region="us-east-1").validate()  # fmt: skip
