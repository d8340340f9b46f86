"""OrionKeyVault under Pulumi mocks: what each cloud would be asked to create, and that no key is ever in it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import parliament
import pulumi
import pytest
from kubernetes_validate import validate as validate_manifest
from parliament import analyze_policy_string, enhance_finding, override_config
from pulumi.runtime import mocks as pulumi_mocks

from components.orion_key_vault import (
    AwsReader,
    GcpReader,
    HashicorpVault,
    KeyVaultNode,
    KubernetesReader,
    OrionKeyVault,
    OrionKeyVaultArgs,
    kms_key_policy,
    mirror_arn_pattern,
    node_secret_policy,
)
from lacchain.errors import InvalidInput
from lacchain.stack_config import Platform, TransactionManager
from lacchain.tm.tessera_vault import aws_native_pair_ids
from services.keyagent.cli import parse_config

ACCOUNT = "123456789012"
POLICY = "aws:iam/rolePolicy:RolePolicy"
SEVERITIES = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SECRET_VALUE_TYPES = {
    "aws:secretsmanager/secretVersion:SecretVersion",
    "gcp:secretmanager/secretVersion:SecretVersion",
    "gcp:secretmanager/regionalSecretVersion:RegionalSecretVersion",
    "kubernetes:core/v1:Secret",
}


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as state, plus the outputs a cloud assigns (ARNs, ids) that the component reads."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        state = dict(args.inputs)
        if args.typ == "aws:kms/key:Key":
            state.update(arn=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{args.name}", keyId=args.name)
        if args.typ == "aws:secretsmanager/secret:Secret":
            state["arn"] = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{args.inputs['name']}-AbC123"
        if args.typ == "gcp:kms/cryptoKey:CryptoKey":
            return "projects/p/locations/southamerica-east1/keyRings/r/cryptoKeys/k", state
        if args.typ == "gcp:projects/serviceIdentity:ServiceIdentity":
            state["member"] = "serviceAccount:service-42@gcp-sa-secretmanager.iam.gserviceaccount.com"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "ci"}, []
        return {}, []


class OptionsMonitor(pulumi_mocks.MockMonitor):
    """The mock engine, also noting the resource options the engine would act on (protect, retain on delete)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.kept: dict[str, tuple[bool, bool]] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.kept[request.name] = (bool(request.protect), bool(request.retainOnDelete))
        return super().RegisterResource(request)


@pytest.fixture()
def monitor() -> OptionsMonitor:
    return OptionsMonitor(RecordingMocks())


@pytest.fixture()
def mocks(monitor: OptionsMonitor) -> Iterator[RecordingMocks]:
    recording = monitor.mocks
    assert isinstance(recording, RecordingMocks)
    pulumi.runtime.set_mocks(recording, project="lacchain-cloud", stack="test", preview=False, monitor=monitor)
    yield recording


def synthesize(build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``build`` under the mocks until every resource is registered; return its outputs' resolved values.

    Assertions run afterwards, on the complete recording, rather than inside an ``apply`` that could run before
    the last registration."""
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> Any:
        outputs = build()
        return pulumi.Output.all(**outputs).apply(resolved.update)

    program()
    return resolved


def _of_type(mocks: RecordingMocks, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
    return [r for r in mocks.resources if r.typ == typ]


def _looks_like_key(text: str) -> bool:
    """A Curve25519/secp256k1 private key as it would appear: 32 bytes as base64 or 64 hex digits."""
    candidate = text.strip().removeprefix("0x")
    if re.fullmatch(r"[0-9a-fA-F]{64}", candidate):
        return True
    try:
        return len(base64.b64decode(candidate, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _assert_no_key_material(mocks: RecordingMocks) -> None:
    assert not [r.typ for r in mocks.resources if r.typ in SECRET_VALUE_TYPES]
    for resource in mocks.resources:
        for text in _strings(resource.inputs):
            assert not _looks_like_key(text), (resource.typ, resource.name)
            assert text not in ("secretString", "secretBinary", "secretData", "stringData", "privateKey")


def _assert_outputs_keyless(outputs: dict[str, Any]) -> None:
    for text in _strings(outputs):
        assert not _looks_like_key(text), text


def _findings_above_low(policy: dict[str, Any], community: bool) -> list[tuple[str, str]]:
    """Findings above LOW, with severities as the ``parliament`` CLI assigns them (community ones included)."""
    override_config(str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"))
    analyzed = analyze_policy_string(json.dumps(policy), include_community_auditors=community)
    findings = [enhance_finding(f) for f in analyzed.findings]
    return [(f.issue, f.severity) for f in findings if SEVERITIES.index(f.severity) > SEVERITIES.index("LOW")]


def _nodes(reader: Any, *tms: TransactionManager) -> list[KeyVaultNode]:
    return [KeyVaultNode(f"writer-{i + 1}", tm, reader(i)) for i, tm in enumerate(tms)]


def _aws_args(**overrides: Any) -> OrionKeyVaultArgs:
    nodes = _nodes(lambda i: AwsReader(f"writer-{i + 1}-role"), TransactionManager.TESSERA, TransactionManager.ORION)
    return OrionKeyVaultArgs(
        **{"member": "member-a", "platform": Platform.AWS, "nodes": nodes, "aws_region": "us-east-1", **overrides}
    )


def test_aws_creates_key_secrets_and_one_scoped_policy_per_node(mocks: RecordingMocks) -> None:
    def build() -> dict[str, Any]:
        vault = OrionKeyVault("vault", _aws_args())
        writer_1, writer_2 = vault.nodes["writer-1"], vault.nodes["writer-2"]
        assert writer_1.tessera_key_vault_config is not None and writer_2.tessera_key_vault_config is None
        return {"ref": writer_1.secret_ref, "env": writer_1.agent_env, "tessera": writer_1.tessera_key_vault_config}

    out = synthesize(build)

    (key,) = _of_type(mocks, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True and key.inputs["keyUsage"] == "ENCRYPT_DECRYPT"
    assert key.inputs["rotationPeriodInDays"] == 365
    assert json.loads(key.inputs["policy"]) == kms_key_policy(ACCOUNT)
    (alias,) = _of_type(mocks, "aws:kms/alias:Alias")
    assert alias.inputs["name"] == "alias/lacchain/member-a/tm-keys"
    secrets = {s.inputs["name"]: s for s in _of_type(mocks, "aws:secretsmanager/secret:Secret")}
    assert set(secrets) == {"lacchain/member-a/writer-1/tm-keys", "lacchain/member-a/writer-2/tm-keys"}
    for secret in secrets.values():
        assert secret.inputs["kmsKeyId"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/vault-kms"
    policies = {p.inputs["role"]: json.loads(p.inputs["policy"]) for p in _of_type(mocks, POLICY)}
    assert set(policies) == {"writer-1-role", "writer-2-role"}
    for node, other in (("writer-1", "writer-2"), ("writer-2", "writer-1")):
        text = json.dumps(policies[f"{node}-role"])
        assert f"/{node}/" in text and f"/{other}/" not in text  # only its own secret
    _assert_no_key_material(mocks)

    _assert_outputs_keyless(out)
    assert out["ref"] == f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:lacchain/member-a/writer-1/tm-keys-AbC123"
    config = parse_config([], out["env"])  # the agent accepts exactly what the component hands the node
    assert (config.backend, config.secret, config.region) == ("aws", out["ref"], "us-east-1")
    assert config.kms_key_id == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/vault-kms" and not config.tessera_native
    endpoint = "https://secretsmanager.us-east-1.amazonaws.com"
    assert out["tessera"] == {"keyVaultType": "AWS", "properties": {"endpoint": endpoint}}


def test_aws_policies_pass_parliament(mocks: RecordingMocks) -> None:
    synthesize(lambda: {"arn": OrionKeyVault("vault", _aws_args()).kms_key_arn})
    policies = _of_type(mocks, POLICY)
    assert len(policies) == 2
    for policy in policies:
        document = json.loads(policy.inputs["policy"])
        assert _findings_above_low(document, community=False) == []
        assert _findings_above_low(document, community=True) == []
    (key,) = _of_type(mocks, "aws:kms/key:Key")
    # The key policy is AWS's default "the account administers, IAM decides" statement: core auditors only (the
    # community PERMISSIONS_MANAGEMENT check flags any key administrator, and every key needs one).
    assert _findings_above_low(json.loads(key.inputs["policy"]), community=False) == []


def test_a_policy_granting_everything_would_be_caught() -> None:
    """The parliament check above can fail: a careless policy is flagged above LOW."""
    careless = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}],
    }
    assert _findings_above_low(careless, community=True) != []


def test_node_policy_grants_its_secret_its_mirrors_and_the_key_only_via_secrets_manager() -> None:
    secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:lacchain/m/writer-1/tm-keys-AbC123"
    mirrors = mirror_arn_pattern("aws", "us-east-1", ACCOUNT, "lacchain/m/writer-1/tm-keys")
    policy = node_secret_policy(secret, mirrors, "arn:aws:kms:us-east-1:1:key/k", "us-east-1")
    secrets_statement, key_statement = policy["Statement"]
    assert secrets_statement["Resource"] == [secret, mirrors]
    assert key_statement["Condition"]["StringEquals"] == {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    assert key_statement["Condition"]["StringLike"] == {"kms:EncryptionContext:SecretARN": [secret, mirrors]}
    pattern = re.escape(mirrors).replace(r"\*", ".*")
    mirror = aws_native_pair_ids("lacchain/m/writer-1/tm-keys", "PUB=").private_key_id
    assert re.fullmatch(pattern, f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{mirror}-XyZ789")
    other = aws_native_pair_ids("lacchain/m/writer-10/tm-keys", "PUB=").private_key_id
    assert not re.fullmatch(pattern, f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{other}-XyZ789")


def test_gcp_creates_cmek_secrets_and_bindings_for_each_nodes_account_only(mocks: RecordingMocks) -> None:
    nodes = _nodes(
        lambda i: GcpReader(f"writer-{i + 1}@proj.iam.gserviceaccount.com"),
        TransactionManager.TESSERA,
        TransactionManager.TESSERA,
    )
    args = OrionKeyVaultArgs(
        "member-a", Platform.GCP, nodes, gcp_project="proj", gcp_region="southamerica-east1", key_rotation_days=90
    )

    def build() -> dict[str, Any]:
        vault = OrionKeyVault("vault", args)
        return {"ref": vault.nodes["writer-1"].secret_ref, "env": vault.nodes["writer-1"].agent_env}

    out = synthesize(build)

    (key,) = _of_type(mocks, "gcp:kms/cryptoKey:CryptoKey")
    assert key.inputs["rotationPeriod"] == "7776000s" and key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    (grant,) = _of_type(mocks, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert grant.inputs["member"].endswith("@gcp-sa-secretmanager.iam.gserviceaccount.com")
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    secrets = _of_type(mocks, "gcp:secretmanager/secret:Secret")
    assert {s.inputs["secretId"] for s in secrets} == {
        "lacchain-member-a-writer-1-tm-keys",
        "lacchain-member-a-writer-2-tm-keys",
    }
    for secret in secrets:
        (replica,) = secret.inputs["replication"]["userManaged"]["replicas"]
        assert replica["location"] == "southamerica-east1"
        assert replica["customerManagedEncryption"]["kmsKeyName"].endswith("/cryptoKeys/k")
    bindings = _of_type(mocks, "gcp:secretmanager/secretIamMember:SecretIamMember")
    assert len(bindings) == 4
    for binding in bindings:
        node = "writer-1" if "writer-1" in binding.inputs["secretId"] else "writer-2"
        assert binding.inputs["member"] == f"serviceAccount:{node}@proj.iam.gserviceaccount.com"
        assert binding.inputs["role"] in (
            "roles/secretmanager.secretAccessor",
            "roles/secretmanager.secretVersionManager",
        )
    _assert_no_key_material(mocks)
    _assert_outputs_keyless(out)
    assert out["ref"] == "projects/proj/secrets/lacchain-member-a-writer-1-tm-keys"
    config = parse_config([], out["env"])
    assert (config.backend, config.secret) == ("gcp", out["ref"])


def test_kubernetes_grants_create_and_get_of_one_secret_and_creates_no_secret(mocks: RecordingMocks) -> None:
    nodes = _nodes(
        lambda i: KubernetesReader(f"ns-{i + 1}", "lacchain-node"), TransactionManager.TESSERA, TransactionManager.ORION
    )
    out = synthesize(
        lambda: {
            "env": OrionKeyVault("vault", OrionKeyVaultArgs("member-a", Platform.KUBERNETES, nodes))
            .nodes["writer-1"]
            .agent_env
        }
    )

    roles = _of_type(mocks, "kubernetes:rbac.authorization.k8s.io/v1:Role")
    bindings = _of_type(mocks, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert len(roles) == len(bindings) == 2
    for role in roles:
        node = "writer-1" if role.inputs["metadata"]["namespace"] == "ns-1" else "writer-2"
        create, get = role.inputs["rules"]
        assert create["verbs"] == ["create"] and "resourceNames" not in create
        assert get == {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [f"member-a-{node}-tm-keys"],  # member-prefixed: members may share a namespace
            "verbs": ["get"],
        }
        validate_manifest(role.inputs, "1.30.0", strict=True)
    for binding in bindings:
        (subject,) = binding.inputs["subjects"]
        namespace = binding.inputs["metadata"]["namespace"]
        assert subject == {"kind": "ServiceAccount", "name": "lacchain-node", "namespace": namespace}
        assert binding.inputs["roleRef"]["name"] == binding.inputs["metadata"]["name"]
        validate_manifest(binding.inputs, "1.30.0", strict=True)
    _assert_no_key_material(mocks)
    _assert_outputs_keyless(out)
    config = parse_config([], out["env"])
    assert (config.backend, config.secret, config.namespace) == ("kubernetes", "member-a-writer-1-tm-keys", "ns-1")
    assert config.mount_dir is not None


def test_vault_outputs_path_policy_and_agent_settings_without_cloud_resources(mocks: RecordingMocks) -> None:
    nodes = _nodes(
        lambda i: KubernetesReader("lacchain", f"writer-{i + 1}"),
        TransactionManager.TESSERA,
        TransactionManager.TESSERA,
    )
    args = OrionKeyVaultArgs("member-a", Platform.KUBERNETES, nodes, vault=HashicorpVault("https://vault.example:8200"))
    policies: list[str | None] = []

    def build() -> dict[str, Any]:
        vault = OrionKeyVault("vault", args)
        policies.append(vault.nodes["writer-1"].vault_policy)
        return {"ref": vault.nodes["writer-1"].secret_ref, "env": vault.nodes["writer-1"].agent_env}

    out = synthesize(build)

    assert [r.typ for r in mocks.resources] == ["lacchain:index:OrionKeyVault"]
    (policy,) = policies
    assert policy is not None and 'path "secret/data/lacchain/member-a/writer-1/tm-keys"' in policy
    assert "writer-2" not in policy
    assert out["ref"] == "secret/lacchain/member-a/writer-1/tm-keys"
    config = parse_config([], out["env"])
    assert (config.backend, config.vault_role, config.secret) == (
        "vault",
        "lacchain-member-a-writer-1",
        "lacchain/member-a/writer-1/tm-keys",
    )


def test_tessera_native_mode_is_passed_to_tessera_nodes_only(mocks: RecordingMocks) -> None:
    def build() -> dict[str, Any]:
        vault = OrionKeyVault("vault", _aws_args(tessera_native=True))
        return {"tessera": vault.nodes["writer-1"].agent_env, "orion": vault.nodes["writer-2"].agent_env}

    out = synthesize(build)
    tessera, orion = parse_config([], out["tessera"]), parse_config([], out["orion"])
    assert tessera.tessera_native and tessera.tessera_endpoint == "https://secretsmanager.us-east-1.amazonaws.com"
    assert not orion.tessera_native


def test_bad_arguments_are_all_reported_before_anything_is_created(mocks: RecordingMocks) -> None:
    nodes = [
        KeyVaultNode("writer-1", TransactionManager.NONE, AwsReader("r")),
        KeyVaultNode("writer-1", TransactionManager.TESSERA, GcpReader("sa@p.iam.gserviceaccount.com")),
    ]
    with pytest.raises(InvalidInput) as invalid:
        OrionKeyVaultArgs("Member A", Platform.AWS, nodes, key_rotation_days=30).validate()
    text = str(invalid.value)
    for expected in (
        "member",
        "appears twice",
        "transactionManager",
        "GcpReader on a aws vault",
        "awsRegion",
        "keyRotationDays",
    ):
        assert expected in text


def test_key_containers_are_protected_and_kept_unless_turned_off(
    mocks: RecordingMocks, monitor: OptionsMonitor
) -> None:
    synthesize(lambda: {"arn": OrionKeyVault("vault", _aws_args()).kms_key_arn})
    assert monitor.kept["vault-kms"] == (True, True)
    assert monitor.kept["vault-writer-1"] == (True, True)  # the node's secret
    assert monitor.kept["vault-writer-1-read"] == (False, False)  # permissions can be recreated at will

    monitor.kept.clear()
    synthesize(lambda: {"arn": OrionKeyVault("dev", _aws_args(protect=False)).kms_key_arn})
    assert monitor.kept["dev-kms"] == (False, False) and monitor.kept["dev-writer-1"] == (False, False)


def test_grants_can_follow_once_the_nodes_identity_exists(mocks: RecordingMocks) -> None:
    nodes = [KeyVaultNode("writer-1", TransactionManager.TESSERA), KeyVaultNode("writer-2", TransactionManager.ORION)]
    errors: list[str] = []

    def build() -> dict[str, Any]:
        vault = OrionKeyVault("vault", _aws_args(nodes=nodes))
        env = vault.nodes["writer-1"].agent_env  # available before any grant: it goes into the node's boot files
        vault.grant("writer-1", AwsReader(pulumi.Output.from_input("writer-1-role")))
        for node, reader in (
            ("writer-1", AwsReader("again")),
            ("writer-9", AwsReader("r")),
            ("writer-2", GcpReader("sa@p.iam.gserviceaccount.com")),
        ):
            try:
                vault.grant(node, reader)
            except InvalidInput as exc:
                errors.append(str(exc))
        return {"env": env}

    out = synthesize(build)
    assert parse_config([], out["env"]).backend == "aws"
    (policy,) = _of_type(mocks, POLICY)
    assert policy.inputs["role"] == "writer-1-role"
    assert "already granted" in errors[0] and "not in this vault" in errors[1] and "give a AwsReader" in errors[2]


def test_kubernetes_nodes_need_their_service_account_or_the_vaults_namespace_up_front() -> None:
    args = OrionKeyVaultArgs("member-a", Platform.KUBERNETES, [KeyVaultNode("writer-1", TransactionManager.TESSERA)])
    with pytest.raises(InvalidInput, match="is required on kubernetes"):
        args.validate()
    elsewhere = KeyVaultNode("writer-1", TransactionManager.TESSERA, KubernetesReader("other", "sa"))
    with pytest.raises(InvalidInput, match="is not the vault's 'ns-1'"):
        OrionKeyVaultArgs("member-a", Platform.KUBERNETES, [elsewhere], kubernetes_namespace="ns-1").validate()
    with pytest.raises(InvalidInput, match="kubernetesNamespace"):
        OrionKeyVaultArgs(
            "member-a",
            Platform.AWS,
            [KeyVaultNode("w", TransactionManager.TESSERA)],
            "us-east-1",
            kubernetes_namespace="x",
        ).validate()


def test_kubernetes_nodes_listed_without_a_reader_are_granted_once_their_account_exists(
    mocks: RecordingMocks,
) -> None:
    """The member program's order: the vault (with the agent's settings) first, the grant once the node's
    ServiceAccount exists. Nothing is bound before the grant, and only in the Secret's namespace."""
    nodes = [KeyVaultNode("writer-1", TransactionManager.TESSERA), KeyVaultNode("writer-2", TransactionManager.ORION)]
    args = OrionKeyVaultArgs("member-a", Platform.KUBERNETES, nodes, kubernetes_namespace="ns-1")
    errors: list[str] = []

    def build() -> dict[str, Any]:
        vault = OrionKeyVault("vault", args)
        try:
            vault.grant("writer-1", KubernetesReader("ns-2", "member-a-writer-1"))
        except InvalidInput as exc:
            errors.append(str(exc))
        vault.grant("writer-1", KubernetesReader("ns-1", "member-a-writer-1"))
        return {"env": vault.nodes["writer-2"].agent_env}

    out = synthesize(build)
    assert "not the namespace of its Secret" in errors[0]
    # writer-2 was never granted: no Role, no RoleBinding for it (the vault itself creates none on kubernetes)
    (role,) = _of_type(mocks, "kubernetes:rbac.authorization.k8s.io/v1:Role")
    assert role.inputs["rules"][1]["resourceNames"] == ["member-a-writer-1-tm-keys"]
    (binding,) = _of_type(mocks, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "member-a-writer-1", "namespace": "ns-1"}]
    assert binding.inputs["metadata"]["namespace"] == "ns-1"
    config = parse_config([], out["env"])  # an ungranted node's settings are complete already
    assert (config.secret, config.namespace) == ("member-a-writer-2-tm-keys", "ns-1")
