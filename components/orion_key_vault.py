"""OrionKeyVault: where a member's transaction-manager keys live, and who may read each one.

One vault per platform of a member. It creates the *containers* for keys and the *permissions* on them, never a
key: each node's key agent (``services/keyagent``) generates its Curve25519 pair on first boot and stores it with
create-if-absent semantics. So no private key ever passes through Pulumi, its state, or its logs, and outputs
carry only references (ARNs, names, paths), which are not secret.

- **aws**: a customer-managed KMS key (rotation on, alias, key policy that delegates to IAM), one Secrets Manager
  secret per node encrypted with it (no secret value), and an inline policy on each node's role granting only
  that node's secret (plus its Tessera-native mirror prefix) and the KMS key only through Secrets Manager for
  that secret (``kms:ViaService`` and ``kms:EncryptionContext:SecretARN``).
- **gcp**: a Cloud KMS key ring and key (rotation period), one Secret Manager secret per node with CMEK
  (user-managed replication in the key's region), and IAM on each secret for that node's service account only.
- **kubernetes**: the agent creates the node's Secret (``<member>-<node>-tm-keys``), so only a Role/RoleBinding per
  node is created, letting the agent's service account create Secrets in its namespace and get that one Secret.
  Kubernetes keeps Secrets in etcd in plain base64 unless the cluster enables encryption at rest: enable a KMS
  provider on the cluster.
- **vault** (optional, Kubernetes nodes): nothing is created in the cloud; per node the KV v2 path, the Vault
  policy text to install, and the agent settings are output.

Per node the outputs are ``secret_ref`` (what the agent reads), ``agent_env`` (``LACCHAIN_KEYAGENT_*`` variables
for the init container or the systemd ``EnvironmentFile``) and, for Tessera on AWS, ``tessera_key_vault_config``
(Tessera's ``keys.keyVaultConfigs`` entry for its native AWS key vault).

Order of creation: a node's boot configuration needs its ``agent_env`` (so the vault comes first), while its IAM
role or service account may be created with the node. Nodes can therefore be listed without a reader and granted
later with ``vault.grant(node, reader)`` (on Kubernetes, give the vault its ``kubernetes_namespace`` instead: the
agent's settings name the namespace). ``components.member`` does exactly this: one vault per AWS region, GCP
project and region, or cluster context and namespace, created before the nodes; each backend grants its node's
identity as soon as it exists and makes the node's compute wait for the grant. The key containers (KMS key, key
ring, crypto key, secrets) are ``protect``-ed and retained on delete by default: a node's key exists nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from lacchain.errors import FieldProblem, InvalidInput
from lacchain.layout import SECRETS_DIR
from lacchain.stack_config import DNS_LABEL, Platform, TransactionManager
from lacchain.tm.paths import KUBERNETES_SECRET_MOUNT as KUBERNETES_SECRET_MOUNT  # where nodes mount their Secret
from lacchain.tm.tessera_vault import aws_key_vault_config, aws_native_prefix, secrets_manager_endpoint

ENV = "LACCHAIN_KEYAGENT_"
GCP_ROTATION_SECONDS_PER_DAY = 86400
ETCD_NOTICE = (
    "OrionKeyVault (kubernetes): transaction-manager keys are stored as Kubernetes Secrets; make sure the "
    "cluster encrypts Secrets at rest in etcd with a KMS provider (EKS: secrets encryption, GKE: application-layer "
    "secrets encryption, self-managed: EncryptionConfiguration)"
)


# -- arguments ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsReader:
    """The IAM role the node runs as (instance profile role or IRSA role); the vault attaches its policy to it."""

    role_name: pulumi.Input[str]


@dataclass(frozen=True)
class GcpReader:
    """The Google service account the node runs as (VM service account or Workload Identity GSA)."""

    service_account_email: pulumi.Input[str]


@dataclass(frozen=True)
class KubernetesReader:
    """The Kubernetes service account the node's pod (its key agent init container) runs as."""

    namespace: str
    service_account: str


Reader = AwsReader | GcpReader | KubernetesReader


@dataclass(frozen=True)
class KeyVaultNode:
    """A node with a transaction manager. ``reader`` may be left out on aws/gcp and granted later with
    ``OrionKeyVault.grant`` once the node's role or service account exists (the node's boot configuration needs
    the vault's secret reference first, so the two cannot always be created in one order)."""

    name: str
    transaction_manager: TransactionManager
    reader: Reader | None = None


@dataclass(frozen=True)
class HashicorpVault:
    """An existing Vault with a KV v2 engine and the Kubernetes auth method enabled for the member's cluster."""

    address: str
    kv_mount: str = "secret"
    auth_mount: str = "kubernetes"
    path_prefix: str = "lacchain"
    namespace: str | None = None


@dataclass(frozen=True)
class OrionKeyVaultArgs:
    member: str
    platform: Platform
    nodes: Sequence[KeyVaultNode]
    aws_region: str | None = None
    gcp_project: str | None = None
    gcp_region: str | None = None
    vault: HashicorpVault | None = None
    kubernetes_namespace: str | None = None
    """kubernetes: the namespace of the nodes' Secrets, so nodes can be listed without a reader and granted once
    their service account exists (each reader must then be in this namespace)."""
    tessera_native: bool = False
    """AWS + Tessera: have the agent mirror keys into Tessera's native AWS key vault layout (see keyagent README)."""
    key_rotation_days: int = 365
    deletion_window_days: int = 30
    protect: bool = True
    """Protect (and retain on delete) the keys' containers: a node's key exists nowhere else, so losing its secret
    or the KMS key that encrypts it loses the node's identity. Turn off only for throw-away stacks."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def validate(self) -> OrionKeyVaultArgs:
        problems: list[FieldProblem] = []
        if not DNS_LABEL.match(self.member):
            problems.append(FieldProblem("member", f"{self.member!r} is not a DNS label", "use e.g. 'member-a'"))
        if not self.nodes:
            problems.append(FieldProblem("nodes", "is empty", "list the nodes that run a transaction manager"))
        names = [n.name for n in self.nodes]
        for duplicate in sorted({n for n in names if names.count(n) > 1}):
            problems.append(FieldProblem(f"nodes[{duplicate}]", "appears twice", "give every node its own name"))
        expected = _reader_type(self.platform, self.vault)
        for node in self.nodes:
            where = f"nodes[{node.name}]"
            if not DNS_LABEL.match(node.name):
                problems.append(FieldProblem(f"{where}.name", "is not a DNS label", "use e.g. 'writer-1'"))
            if node.transaction_manager is TransactionManager.NONE:
                problems.append(
                    FieldProblem(f"{where}.transactionManager", "is none", "leave nodes without a TM out of the vault")
                )
            if node.reader is None and expected is KubernetesReader and self.kubernetes_namespace is None:
                problems.append(
                    FieldProblem(
                        f"{where}.reader",
                        "is required on kubernetes",
                        "give the namespace and service account, or the vault's kubernetesNamespace",
                    )
                )
            elif node.reader is not None and not isinstance(node.reader, expected):
                problems.append(
                    FieldProblem(
                        f"{where}.reader",
                        f"is a {type(node.reader).__name__} on a {self.platform.value} vault",
                        f"give a {expected.__name__}",
                    )
                )
        if self.kubernetes_namespace is not None:
            if self.platform is not Platform.KUBERNETES:
                problems.append(FieldProblem("kubernetesNamespace", "is for kubernetes vaults", "remove it"))
            elif not DNS_LABEL.match(self.kubernetes_namespace):
                problems.append(FieldProblem("kubernetesNamespace", "is not a DNS label", "use e.g. 'lacchain'"))
            for node in self.nodes:
                if isinstance(node.reader, KubernetesReader) and node.reader.namespace != self.kubernetes_namespace:
                    problems.append(
                        FieldProblem(
                            f"nodes[{node.name}].reader.namespace",
                            f"{node.reader.namespace!r} is not the vault's {self.kubernetes_namespace!r}",
                            "keep a node's service account in its Secret's namespace",
                        )
                    )
        if self.vault is not None and self.platform is not Platform.KUBERNETES:
            problems.append(
                FieldProblem("vault", f"is set on a {self.platform.value} vault", "use Vault with kubernetes nodes")
            )
        if self.platform is Platform.AWS and self.vault is None:
            if not self.aws_region:
                problems.append(FieldProblem("awsRegion", "is required on aws", "set the region, e.g. us-east-1"))
            if not 90 <= self.key_rotation_days <= 2560:
                problems.append(
                    FieldProblem("keyRotationDays", f"{self.key_rotation_days} is outside 90..2560", "AWS KMS range")
                )
            if not 7 <= self.deletion_window_days <= 30:
                problems.append(
                    FieldProblem("deletionWindowDays", f"{self.deletion_window_days} is outside 7..30", "use 7..30")
                )
        if self.platform is Platform.GCP:
            for name, value in (("gcpProject", self.gcp_project), ("gcpRegion", self.gcp_region)):
                if not value:
                    problems.append(FieldProblem(name, "is required on gcp", "set it"))
        if self.tessera_native and self.platform is not Platform.AWS:
            problems.append(FieldProblem("tesseraNative", "works with aws only", "remove it"))
        if problems:
            raise InvalidInput(problems, f"OrionKeyVault of {self.member}")
        return self


def _reader_type(platform: Platform, vault: HashicorpVault | None) -> type:
    if vault is not None:
        return KubernetesReader
    return {Platform.AWS: AwsReader, Platform.GCP: GcpReader, Platform.KUBERNETES: KubernetesReader}[platform]


# -- pure renderings (tested without Pulumi) ------------------------------------------------------------------------


def aws_secret_name(member: str, node: str) -> str:
    return f"lacchain/{member}/{node}/tm-keys"


def gcp_secret_id(member: str, node: str) -> str:
    return f"lacchain-{member}-{node}-tm-keys"


def kubernetes_secret_name(member: str, node: str) -> str:
    """Prefixed with the member like every other object of a node: members may share a namespace."""
    return f"{member}-{node}-tm-keys"


def vault_path(vault: HashicorpVault, member: str, node: str) -> str:
    return f"{vault.path_prefix.strip('/')}/{member}/{node}/tm-keys"


def mirror_arn_pattern(partition: str, region: str, account_id: str, secret_name: str) -> str:
    """ARN pattern of the node's Tessera-native mirror secrets (``lacchain.tm.tessera_vault.aws_native_prefix``).
    Built from the name, not parsed from the secret's ARN, so it cannot match another node's secrets."""
    return f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{aws_native_prefix(secret_name)}*"


def node_secret_policy(secret_arn: str, mirrors: str, key_arn: str, region: str) -> dict[str, Any]:
    """The only permissions a node's role gets: its own secret (and its mirrors, ARN pattern ``mirrors``), and the
    vault's KMS key only when Secrets Manager uses it for those secrets."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnTransactionManagerKeys",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:CreateSecret",
                    "secretsmanager:DescribeSecret",
                ],
                "Resource": [secret_arn, mirrors],
            },
            {
                "Sid": "VaultKeyThroughOwnSecretOnly",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:SecretARN": [secret_arn, mirrors]},
                },
            },
        ],
    }


def kms_key_policy(account_id: str, partition: str = "aws") -> dict[str, Any]:
    """AWS's default key policy: the account administers the key and IAM policies decide who uses it. Without this
    statement the node policies above would have no effect, and the key could become unmanageable."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableIamPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def vault_policy_hcl(vault: HashicorpVault, path: str) -> str:
    """The Vault policy for one node's role: read its KV v2 secret and create its first version, nothing else."""
    mount = vault.kv_mount.strip("/")
    return (
        f'path "{mount}/data/{path}" {{\n  capabilities = ["create", "read", "update"]\n}}\n'
        f'path "{mount}/metadata/{path}" {{\n  capabilities = ["read"]\n}}\n'
    )


def kubernetes_role_rules(secret_name: str) -> list[dict[str, Any]]:
    """RBAC cannot restrict ``create`` by name (the object does not exist yet), so create is namespace-wide and
    every other verb is limited to the node's one Secret. No list/watch: the agent never needs other Secrets."""
    return [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret_name], "verbs": ["get"]},
    ]


# -- the component --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeKeyVault:
    """What one node's deployment needs from the vault. None of it is secret: no key passes through Pulumi."""

    secret_ref: pulumi.Output[str]
    agent_env: pulumi.Output[dict[str, str]]
    tessera_key_vault_config: pulumi.Output[dict[str, Any]] | None = None
    vault_policy: str | None = None
    known_agent_env: Mapping[str, str] | None = None
    """``agent_env`` as a plain value when it is known before any resource exists (kubernetes and Vault: names
    only), so a caller can use it without waiting on an Output; None on aws and gcp (it holds cloud ARNs)."""


class OrionKeyVault(pulumi.ComponentResource):
    """Key containers and per-node permissions for a member's transaction managers on one platform."""

    nodes: dict[str, NodeKeyVault]
    kms_key_arn: pulumi.Output[str] | None
    gcp_crypto_key_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: OrionKeyVaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lacchain:index:OrionKeyVault", name, None, opts)
        self._name = name
        self._args = args.validate()
        # Children wait for what the vault waits for (e.g. the Namespace its RBAC objects live in): the SDK does not
        # pass a component's depends_on on to the children it registers later.
        depends = list(opts.depends_on) if opts is not None and isinstance(opts.depends_on, list) else []
        self._child = pulumi.ResourceOptions(parent=self, depends_on=depends)
        self._kept = pulumi.ResourceOptions(
            parent=self, protect=args.protect, retain_on_delete=args.protect, depends_on=depends
        )
        self._granted: set[str] = set()
        self._aws: tuple[aws.kms.Key, pulumi.Output[Any], dict[str, aws.secretsmanager.Secret]] | None = None
        self._gcp_secrets: dict[str, gcp.secretmanager.Secret] = {}
        self._namespaces: dict[str, str] = {}
        self.nodes = {}
        self.kms_key_arn = None
        self.gcp_crypto_key_id = None
        if args.vault is not None:
            self._build_vault(args.vault)
        elif args.platform is Platform.AWS:
            self._build_aws()
        elif args.platform is Platform.GCP:
            self._build_gcp()
        else:
            pulumi.log.info(ETCD_NOTICE, resource=self)
            self._build_kubernetes()
        for node in args.nodes:
            if node.reader is not None:
                self.grant(node.name, node.reader)
        self.register_outputs(
            {
                "kmsKeyArn": self.kms_key_arn,
                "gcpCryptoKeyId": self.gcp_crypto_key_id,
                "nodes": {
                    node: {
                        "secretRef": out.secret_ref,
                        "agentEnv": out.agent_env,
                        "tesseraKeyVaultConfig": out.tessera_key_vault_config,
                    }
                    for node, out in self.nodes.items()
                },
            }
        )

    def grant(self, node: str, reader: Reader) -> list[pulumi.Resource]:
        """Let ``reader`` (the node's role, service account or Kubernetes service account) use ``node``'s secret
        and nothing else. Called for every node given with a reader, or later by the caller for the others."""
        if node not in self.nodes:
            raise InvalidInput.single("node", f"{node!r} is not in this vault", f"use one of {sorted(self.nodes)}")
        if node in self._granted:
            raise InvalidInput.single(f"nodes[{node}].reader", "is already granted", "grant each node once")
        expected = _reader_type(self._args.platform, self._args.vault)
        if not isinstance(reader, expected):
            raise InvalidInput.single(
                f"nodes[{node}].reader", f"is a {type(reader).__name__}", f"give a {expected.__name__}"
            )
        namespace = self._namespaces.get(node)
        if isinstance(reader, KubernetesReader) and namespace is not None and reader.namespace != namespace:
            raise InvalidInput.single(
                f"nodes[{node}].reader.namespace",
                f"{reader.namespace!r} is not the namespace of its Secret ({namespace!r})",
                "grant the service account of the node's own namespace",
            )
        self._granted.add(node)
        if self._args.vault is not None:
            return []  # Vault roles are bound in Vault (see vault_policy); nothing to create in the cloud
        if isinstance(reader, AwsReader):
            return [self._grant_aws(node, reader)]
        if isinstance(reader, GcpReader):
            return self._grant_gcp(node, reader)
        assert isinstance(reader, KubernetesReader)
        return self._grant_kubernetes(node, reader)

    @property
    def _tags(self) -> dict[str, str]:
        return {**self._args.tags, "lacchain:member": self._args.member, "lacchain:purpose": "tm-keys"}

    # -- aws ------------------------------------------------------------------------------------------------------

    def _build_aws(self) -> None:
        args, name = self._args, self._name
        assert args.aws_region is not None  # validate() checked
        region = args.aws_region
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        key = aws.kms.Key(
            f"{name}-kms",
            region=region,  # the provider's region, stated so ARNs are known offline (synth)
            description=f"LACChain {args.member}: transaction manager keys",
            key_usage="ENCRYPT_DECRYPT",
            enable_key_rotation=True,
            rotation_period_in_days=args.key_rotation_days,
            deletion_window_in_days=args.deletion_window_days,
            policy=identity.apply(lambda i: json.dumps(kms_key_policy(i.account_id, i.arn.split(":")[1]))),
            tags=self._tags,
            opts=self._kept,
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/lacchain/{args.member}/tm-keys",
            target_key_id=key.key_id,
            region=region,
            opts=self._child,
        )
        self.kms_key_arn = key.arn
        endpoint = secrets_manager_endpoint(region)
        secrets: dict[str, aws.secretsmanager.Secret] = {}
        for node in args.nodes:
            secret = aws.secretsmanager.Secret(
                f"{name}-{node.name}",
                name=aws_secret_name(args.member, node.name),  # fixed: the agent and IAM refer to it
                region=region,
                description=f"LACChain {args.member}/{node.name}: {node.transaction_manager.value} keys "
                "(value written by the node's key agent)",
                kms_key_id=key.arn,
                recovery_window_in_days=args.deletion_window_days,
                tags={**self._tags, "lacchain:node": node.name},
                opts=self._kept,
            )
            secrets[node.name] = secret
            render = _aws_env(region, node.transaction_manager, args)
            env = pulumi.Output.all(secret.arn, key.arn).apply(render)
            tessera = (
                pulumi.Output.from_input(aws_key_vault_config(endpoint))
                if node.transaction_manager is TransactionManager.TESSERA
                else None
            )
            self.nodes[node.name] = NodeKeyVault(secret.arn, env, tessera)
        self._aws = (key, identity, secrets)

    def _grant_aws(self, node: str, reader: AwsReader) -> pulumi.Resource:
        assert self._aws is not None and self._args.aws_region is not None
        key, identity, secrets = self._aws
        region = self._args.aws_region
        mirrors = identity.apply(_mirror_pattern(region, aws_secret_name(self._args.member, node)))
        return aws.iam.RolePolicy(
            f"{self._name}-{node}-read",
            role=reader.role_name,
            policy=pulumi.Output.all(secrets[node].arn, mirrors, key.arn).apply(
                lambda parts: json.dumps(node_secret_policy(parts[0], parts[1], parts[2], region))
            ),
            opts=self._child,
        )

    # -- gcp ------------------------------------------------------------------------------------------------------

    def _build_gcp(self) -> None:
        args, name = self._args, self._name
        assert args.gcp_project is not None and args.gcp_region is not None  # validate() checked
        project, region = args.gcp_project, args.gcp_region
        ring = gcp.kms.KeyRing(f"{name}-ring", location=region, project=project, opts=self._kept)
        key = gcp.kms.CryptoKey(
            f"{name}-key",
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=f"{args.key_rotation_days * GCP_ROTATION_SECONDS_PER_DAY}s",
            labels={"lacchain-member": args.member, "lacchain-purpose": "tm-keys"},
            opts=self._kept,
        )
        self.gcp_crypto_key_id = key.id
        agent = gcp.projects.ServiceIdentity(
            f"{name}-secretmanager-agent", service="secretmanager.googleapis.com", project=project, opts=self._child
        )
        cmek_grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-cmek",
            crypto_key_id=key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=agent.member,
            opts=self._child,
        )
        for node in args.nodes:
            secret = gcp.secretmanager.Secret(
                f"{name}-{node.name}",
                secret_id=gcp_secret_id(args.member, node.name),
                project=project,
                replication={
                    "user_managed": {
                        "replicas": [{"location": region, "customer_managed_encryption": {"kms_key_name": key.id}}]
                    }
                },
                labels={"lacchain-member": args.member, "lacchain-node": node.name},
                opts=pulumi.ResourceOptions.merge(self._kept, pulumi.ResourceOptions(depends_on=[cmek_grant])),
            )
            self._gcp_secrets[node.name] = secret
            reference = secret.secret_id.apply(lambda sid: f"projects/{project}/secrets/{sid}")
            env = reference.apply(_gcp_env)
            self.nodes[node.name] = NodeKeyVault(reference, env)

    def _grant_gcp(self, node: str, reader: GcpReader) -> list[pulumi.Resource]:
        member = pulumi.Output.concat("serviceAccount:", reader.service_account_email)
        return [
            gcp.secretmanager.SecretIamMember(
                f"{self._name}-{node}-{role.rsplit('.', 1)[-1]}",
                project=self._args.gcp_project,
                secret_id=self._gcp_secrets[node].secret_id,
                role=role,
                member=member,
                opts=self._child,
            )
            for role in ("roles/secretmanager.secretAccessor", "roles/secretmanager.secretVersionManager")
        ]

    # -- kubernetes and vault -------------------------------------------------------------------------------------

    def _build_kubernetes(self) -> None:
        member = self._args.member
        for node in self._args.nodes:
            namespace = node.reader.namespace if isinstance(node.reader, KubernetesReader) else None
            namespace = namespace or self._args.kubernetes_namespace
            assert namespace is not None  # validate() checked
            self._namespaces[node.name] = namespace
            env = {
                f"{ENV}BACKEND": "kubernetes",
                f"{ENV}SECRET": kubernetes_secret_name(member, node.name),
                f"{ENV}NAMESPACE": namespace,
                f"{ENV}MOUNT_DIR": KUBERNETES_SECRET_MOUNT,
                **_common_env(),
            }
            self.nodes[node.name] = NodeKeyVault(
                pulumi.Output.from_input(kubernetes_secret_name(member, node.name)),
                pulumi.Output.from_input(env),
                known_agent_env=env,
            )

    def _grant_kubernetes(self, node: str, reader: KubernetesReader) -> list[pulumi.Resource]:
        role_name = f"{self._args.member}-{node}-keyagent"
        labels = {"app.kubernetes.io/part-of": "lacchain", "lacchain/member": self._args.member}
        metadata = {"name": role_name, "namespace": reader.namespace, "labels": labels}
        # Plain manifests in the API's own camelCase (the SDK passes them through unchanged): cheaper to register
        # than the typed argument classes, which matters once per writer in a large member.
        role_fields: dict[str, Any] = {
            "metadata": metadata,
            "rules": kubernetes_role_rules(kubernetes_secret_name(self._args.member, node)),
        }
        role = k8s.rbac.v1.Role(f"{self._name}-{node}", opts=self._child, **cast(Any, role_fields))
        binding_fields: dict[str, Any] = {
            "metadata": metadata,
            # The Role's name is ours (not auto-named), so the binding need not wait for the Role's outputs: RBAC
            # accepts a binding to a Role created a moment later.
            "role_ref": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": reader.service_account, "namespace": reader.namespace}],
        }
        binding = k8s.rbac.v1.RoleBinding(f"{self._name}-{node}", opts=self._child, **cast(Any, binding_fields))
        return [role, binding]

    def _build_vault(self, vault: HashicorpVault) -> None:
        for node in self._args.nodes:
            path = vault_path(vault, self._args.member, node.name)
            env = {
                f"{ENV}BACKEND": "vault",
                f"{ENV}SECRET": path,
                f"{ENV}VAULT_ADDR": vault.address,
                f"{ENV}VAULT_ROLE": f"lacchain-{self._args.member}-{node.name}",
                f"{ENV}VAULT_AUTH_MOUNT": vault.auth_mount,
                f"{ENV}VAULT_KV_MOUNT": vault.kv_mount,
                **({f"{ENV}VAULT_NAMESPACE": vault.namespace} if vault.namespace else {}),
                **_common_env(),
            }
            self.nodes[node.name] = NodeKeyVault(
                pulumi.Output.from_input(f"{vault.kv_mount.strip('/')}/{path}"),
                pulumi.Output.from_input(env),
                vault_policy=vault_policy_hcl(vault, path),
                known_agent_env=env,
            )


def _common_env() -> dict[str, str]:
    return {f"{ENV}OUTPUT_DIR": SECRETS_DIR}


def _gcp_env(reference: str) -> dict[str, str]:
    return {f"{ENV}BACKEND": "gcp", f"{ENV}SECRET": reference, **_common_env()}


def _mirror_pattern(region: str, secret_name: str) -> Callable[[Any], str]:
    def render(identity: Any) -> str:
        return mirror_arn_pattern(identity.arn.split(":")[1], region, identity.account_id, secret_name)

    return render


def _aws_env(region: str, tm: TransactionManager, args: OrionKeyVaultArgs) -> Callable[[list[Any]], dict[str, str]]:
    """The agent's settings for one AWS node, from (secret ARN, key ARN)."""

    def render(arns: list[Any]) -> dict[str, str]:
        env = {
            f"{ENV}BACKEND": "aws",
            f"{ENV}SECRET": str(arns[0]),
            f"{ENV}REGION": region,
            f"{ENV}KMS_KEY_ID": str(arns[1]),
            **_common_env(),
        }
        if args.tessera_native and tm is TransactionManager.TESSERA:
            env[f"{ENV}TESSERA_NATIVE"] = "true"
            env[f"{ENV}TESSERA_ENDPOINT"] = secrets_manager_endpoint(region)
        return env

    return render
