"""DdnsZone: a network's Dynamic DNS zone and the update function that keeps it current (``services/ddns_function``).

One per network, deployed by whoever operates the network's DNS. Nodes' daemons (``services/ddns_daemon``) post
signed address updates to ``update_url``; the function checks each signature against the member list, writes the
node table, the node's ``A``/``AAAA`` record, the node's TM TLS certificate, and the network's EIP-1459 ENR tree.

- **aws**: a Route 53 hosted zone (or ``existing_zone_id``), a DynamoDB node table (on-demand, point-in-time
  recovery, the ``nodeId`` string key ``DynamoDbNodeStore`` expects, deletion protection), Secrets Manager secrets
  for the member list, the network CA and the tree key, a CloudWatch log group, an IAM role whose one inline policy
  names exactly those resources, the Lambda function (``services.ddns_function.aws_lambda.handler``) and a public
  Function URL.
- **gcp**: a Cloud DNS managed zone (or an existing one), Secret Manager secrets (the same ones, plus one per
  transaction-manager node for its certificate), a service account bound on the zone to a custom role holding only
  the record-set permissions the function uses, the function's source as an object in a private bucket, and a
  Cloud Functions (2nd gen) function any caller may invoke.
- **onprem**: no cloud resource. The outputs are the on-prem server's settings (``function_environment``, the
  ``DDNS_*`` variables of ``python -m services.ddns_function.http_server``) with the TSIG key as a separate Pulumi
  secret (``tsig_secret``); with ``kubernetes`` given, also a Deployment (one replica: the SQLite table has one
  writer), its Service, a PersistentVolumeClaim for the table and the function's own secrets, a ConfigMap with the
  member list and a Secret with the TSIG key (and the CA and tree key when they are passed in).

Why the update URL needs no caller authentication (Function URL ``AuthType NONE``, ``allUsers`` invoker on GCP):
callers are nodes, not cloud principals, and every write is authorised by the request itself: it is signed by the
node key of a listed member (secp256k1, the enode id), names the network, carries a sequence the table must see
grow and a timestamp inside the window, so a request from anyone else, a replay, or a request for another node is
refused before anything changes (``lacchain/ddns/policy.py``). IAM authentication would need a cloud identity on
every node (nodes also run on other clouds and on-prem) and would add nothing the signature does not already
prove. Reads (``GET /v1/nodes``) return only what DNS publishes anyway. Abuse is bounded by the Lambda's reserved
concurrency / the function's maximum instances and the body-size limits.

Secrets never pass through Pulumi in plain text. The member list is not secret (node ids, names, roles). The CA and
the tree key are either given as Pulumi secrets (``ca``, ``tree_key``; they are stored encrypted in the state, and
written to the secret as its first version) or written by the operator straight into the secret the component
created (``python -m services.ddns_function.bootstrap ... new-ca`` / ``tree-link --create``). Without a tree key,
the function generates one on first use (``DDNS_TREE_KEY_CREATE=on``, atomic across instances); ``enr_tree_url``
is then unknown to Pulumi and ``enr_tree_url`` is None: read the link with ``curl <update_url>/v1/nodes | jq -r
.enrTree`` or ``bootstrap tree-link``, and put it into member stacks' ``network.discoveryDnsUrl``.

Dependencies. The function's code (``services/ddns_function`` and ``lacchain``, no third-party code) is packaged
here as a ``pulumi.AssetArchive``. Its pinned dependencies (``services/ddns_function/requirements.txt``) are
installed by Google's build from the archive on GCP, and on AWS come from a Lambda layer that CI builds from the
same file for the function's runtime and architecture (``pip install -r requirements.txt --platform
manylinux2014_x86_64 --only-binary=:all: --python-version 3.11 -t python/``, zipped, published with
``aws lambda publish-layer-version``); pass its ARN as ``lambda_layers``. coincurve, cryptography and pydantic-core
are compiled wheels, which is why the layer is built for the Lambda platform rather than taken from a developer's
machine.

The GCP node table is the function's SQLite file in its instance (``max_instance_count = min_instance_count = 1``):
it is lost when Google replaces the instance, and nodes re-publish within one address check (their daemon posts
again when the table does not list it). A shared store (Firestore) is the missing piece; see the service README.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from lacchain.ddns.policy import DEFAULT_PORT_RANGE, DEFAULT_WINDOW_SECONDS, MemberList, is_dns_label
from lacchain.enr import EnrError, parse_link, tree_link
from lacchain.errors import FieldProblem, InvalidInput
from lacchain.keys import NodeKey
from services.ddns_function.certificates import DEFAULT_CA_SECRET, DEFAULT_NODE_SECRET
from services.ddns_function.secrets import gcp_secret_id

TYPE = "lacchain:index:DdnsZone"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_HANDLER = "services.ddns_function.aws_lambda.handler"
LAMBDA_RUNTIME = "python3.11"
GCP_RUNTIME = "python311"
GCP_ENTRY_POINT = "ddns"
ON_PREM_PORT = 8053
ON_PREM_DATA = "/var/lib/lacchain-ddns"
ON_PREM_CONFIG = "/etc/lacchain-ddns"
"""Read-only: ``members/members.json`` (a ConfigMap) and ``keys/`` (a Secret with the CA and tree key)."""
LOG_RETENTION_DAYS = 90
CLOUD_DNS_PERMISSIONS = (
    "dns.changes.create",
    "dns.resourceRecordSets.create",
    "dns.resourceRecordSets.delete",
    "dns.resourceRecordSets.list",
    "dns.resourceRecordSets.update",
)
"""What ``CloudDns`` calls need on its zone: ``resourceRecordSets.list`` and ``changes.create`` with additions
(create, update) and deletions. ``roles/dns.admin`` would also allow deleting the zone and changing its DNSSEC."""


class DdnsPlatform(StrEnum):
    AWS = "aws"
    GCP = "gcp"
    ONPREM = "onprem"


# -- arguments ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DdnsSettings:
    """The function's policy (``lacchain.ddns.policy.PolicySettings``) and DNS details."""

    window_seconds: int = DEFAULT_WINDOW_SECONDS
    """How far an update's timestamp may be from the function's clock."""
    allowed_private_cidrs: Sequence[str] = ()
    """Non-public ranges accepted as node addresses (on-prem networks)."""
    port_range: tuple[int, int] = DEFAULT_PORT_RANGE
    dns_ttl: int = 60
    tree: bool = True
    """Publish the network's EIP-1459 tree at ``nodes.<zone>``."""
    tree_ttl: int = 300
    tree_links: Sequence[str] = ()
    """``enrtree://`` links to other networks' lists, published in the tree's link subtree."""


@dataclass(frozen=True)
class OnPremDns:
    """An authoritative server that accepts RFC 2136 updates signed with a TSIG key (BIND, Knot, PowerDNS)."""

    server: str
    """``host`` or ``host:port`` of the primary."""
    key_name: str
    key_secret: pulumi.Input[str]
    """The TSIG key, base64 as ``tsig-keygen`` prints it. Pass a Pulumi secret; it is wrapped as one anyway."""
    algorithm: str = "hmac-sha256"
    server_zone: str | None = None
    """The server's zone when the DDNS zone is below it."""
    name_servers: Sequence[str] = ()


@dataclass(frozen=True)
class OnPremKubernetes:
    """Run the on-prem function in a cluster (the provider comes with the component's options)."""

    image: str
    """An image with ``lacchain/``, ``services/ddns_function/`` and its requirements, running as uid 10001."""
    namespace: str
    storage_class: str | None = None
    storage_size: str = "1Gi"


@dataclass(frozen=True)
class DdnsZoneArgs:
    network: str
    """The network's name, as in the member list and signed into every update."""
    zone: str
    """DNS zone of the node names: ``<node>.<zone>``."""
    platform: DdnsPlatform
    members: Mapping[str, Any]
    """The member list document ``{"network", "nodes": [{"nodeId", "name", "role", "transactionManager"?}]}``."""
    settings: DdnsSettings = DdnsSettings()
    existing_zone_id: str | None = None
    """aws: a hosted zone id to use instead of creating one; gcp: an existing managed zone's name."""
    aws_region: str | None = None
    gcp_project: str | None = None
    gcp_region: str | None = None
    onprem_dns: OnPremDns | None = None
    kubernetes: OnPremKubernetes | None = None
    update_url: str | None = None
    """onprem: where the nodes reach the function (the operator's TLS proxy or ingress)."""
    tree_key: pulumi.Input[str] | None = None
    """The tree's secp256k1 key (``0x`` + 64 hex) as a Pulumi secret; None: generated by the function."""
    ca: pulumi.Input[str] | None = None
    """The TM CA ``{"certificate", "privateKey"}`` JSON as a Pulumi secret; None: written by ``bootstrap new-ca``."""
    certificates: bool | None = None
    """Reissue TM TLS certificates. Default: when ``ca`` is given (otherwise the operator enables it once the CA
    is in its secret, or the updates of TM nodes would answer 502 until then)."""
    lambda_layers: Sequence[pulumi.Input[str]] = ()
    """aws: the dependencies layer built by CI from ``services/ddns_function/requirements.txt``."""
    reserved_concurrency: int = 20
    """aws: the function's reserved concurrency, and on gcp its maximum instance requests: a bound on abuse."""
    project_root: Path = PROJECT_ROOT
    protect: bool = True
    """Protect (and keep on delete) the zone, the table and the key secrets: a new zone means new name servers to
    delegate, a new tree key a new ``enrtree://`` link in every member stack."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def member_list(self) -> MemberList:
        return MemberList.from_document(dict(self.members), f"DdnsZone {self.network} members")

    def validate(self) -> DdnsZoneArgs:
        problems: list[FieldProblem] = []
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?", self.network):
            problems.append(FieldProblem("network", f"{self.network!r}", "1-40 of a-z, 0-9 and '-' (resource names)"))
        zone = self.zone.rstrip(".").lower()
        if not zone or not all(is_dns_label(label) for label in zone.split(".")) or "." not in zone:
            problems.append(FieldProblem("zone", f"{self.zone!r} is not a DNS zone", "e.g. nodes.example.org"))
        try:
            members = self.member_list()
            if members.network != self.network:
                problems.append(
                    FieldProblem("members.network", f"{members.network!r} is not {self.network!r}", "use one name")
                )
        except InvalidInput as exc:
            problems.extend(FieldProblem(f"members.{p.field}", p.problem, p.fix) for p in exc.problems)
        settings = self.settings
        if not 1 <= settings.window_seconds <= 86400:
            problems.append(FieldProblem("settings.windowSeconds", f"{settings.window_seconds}", "1..86400"))
        low, high = settings.port_range
        if not 1 <= low <= high <= 65535:
            problems.append(FieldProblem("settings.portRange", f"{low}-{high}", "1 <= low <= high <= 65535"))
        for cidr in settings.allowed_private_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                problems.append(FieldProblem("settings.allowedPrivateCidrs", f"{cidr!r}: {exc}"))
        for link in settings.tree_links:
            try:
                parse_link(link)
            except EnrError as exc:
                problems.append(FieldProblem("settings.treeLinks", f"{link!r}: {exc}"))
        if self.platform is DdnsPlatform.AWS and not self.aws_region:
            problems.append(FieldProblem("awsRegion", "is required on aws", "e.g. us-east-1"))
        if self.platform is DdnsPlatform.GCP:
            for name, value in (("gcpProject", self.gcp_project), ("gcpRegion", self.gcp_region)):
                if not value:
                    problems.append(FieldProblem(name, "is required on gcp"))
        if self.platform is DdnsPlatform.ONPREM:
            if self.onprem_dns is None:
                problems.append(FieldProblem("onpremDns", "is required on onprem", "the RFC 2136 server and TSIG key"))
            if self.existing_zone_id is not None:
                problems.append(FieldProblem("existingZoneId", "is for aws and gcp", "remove it"))
        else:
            if self.kubernetes is not None:
                problems.append(FieldProblem("kubernetes", "is for onprem", "remove it"))
            if self.onprem_dns is not None:
                problems.append(FieldProblem("onpremDns", "is for onprem", "remove it"))
        if not 1 <= self.reserved_concurrency <= 1000:
            problems.append(FieldProblem("reservedConcurrency", f"{self.reserved_concurrency}", "1..1000"))
        if problems:
            raise InvalidInput(problems, f"DdnsZone of {self.network}")
        return self

    @property
    def zone_name(self) -> str:
        return self.zone.rstrip(".").lower()

    @property
    def tree_domain(self) -> str:
        return f"nodes.{self.zone_name}"

    @property
    def certificates_on(self) -> bool:
        return self.certificates if self.certificates is not None else self.ca is not None


# -- names and pure renderings (tested without Pulumi) -----------------------------------------------------------


def members_secret(network: str) -> str:
    return f"lacchain/{network}/members"


def ca_secret(network: str) -> str:
    return DEFAULT_CA_SECRET.format(network=network)


def tree_key_secret(network: str) -> str:
    return f"lacchain/{network}/enrtree-key"


def node_certificate_secret(network: str, name: str) -> str:
    return DEFAULT_NODE_SECRET.format(network=network, name=name)


def function_name(network: str) -> str:
    return f"lacchain-ddns-{network}"


def function_sources(root: Path) -> dict[str, Path]:
    """The files of the function's archive, by their path in it: the ``lacchain`` package and the function's
    package (``services`` is a namespace package), no bytecode. The handler's module is among them."""
    files: dict[str, Path] = {}
    for base in (root / "lacchain", root / "services" / "ddns_function"):
        for path in sorted(base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                files[path.relative_to(root).as_posix()] = path
    return files


def gcp_main_py() -> str:
    """Cloud Functions loads ``main.py`` from the archive's root and calls the entry point there."""
    return (
        '"""Cloud Functions entry point of the LACChain DDNS function (see services/ddns_function)."""\n\n'
        f"from services.ddns_function.gcp_function import {GCP_ENTRY_POINT}\n\n"
        f'__all__ = ["{GCP_ENTRY_POINT}"]\n'
    )


def archive_digest(files: Mapping[str, Path], extra: Mapping[str, str] | None = None) -> str:
    """A digest of the archive's content (paths and bytes), so a code change changes the GCS object's name."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    for name, text in sorted((extra or {}).items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def function_environment(args: DdnsZoneArgs) -> dict[str, str]:
    """The ``DDNS_*`` settings every platform shares (``services/ddns_function/config.py``); platform-specific
    ones (store, DNS backend, where secrets live) are added by the caller. Nothing here is secret."""
    settings = args.settings
    env = {
        "DDNS_NETWORK": args.network,
        "DDNS_ZONE": args.zone_name,
        "DDNS_WINDOW_SECONDS": str(settings.window_seconds),
        "DDNS_PORT_RANGE": f"{settings.port_range[0]}-{settings.port_range[1]}",
        "DDNS_DNS_TTL": str(settings.dns_ttl),
        "DDNS_CERTIFICATES": "on" if args.certificates_on else "off",
        "DDNS_CA_SECRET": ca_secret(args.network),
        "DDNS_NODE_CERT_SECRET": DEFAULT_NODE_SECRET,
    }
    if settings.allowed_private_cidrs:
        env["DDNS_ALLOWED_PRIVATE_CIDRS"] = ",".join(settings.allowed_private_cidrs)
    if settings.tree:
        env |= {
            "DDNS_TREE_KEY_SECRET": tree_key_secret(args.network),
            "DDNS_TREE_KEY_CREATE": "off" if args.tree_key is not None else "on",
            "DDNS_TREE_DOMAIN": args.tree_domain,
            "DDNS_TREE_TTL": str(settings.tree_ttl),
        }
        if settings.tree_links:
            env["DDNS_TREE_LINKS"] = ",".join(settings.tree_links)
    return env


def secret_arn_pattern(partition: str, region: str, account: str, name_prefix: str) -> str:
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{name_prefix}*"


def aws_function_policy(
    *,
    partition: str,
    zone_id: str,
    table_arn: str,
    read_secrets: Sequence[str],
    write_secrets: Sequence[str],
    log_group_arn: str,
) -> dict[str, Any]:
    """The function's only permissions: exactly the calls its AWS backends make (``Route53Dns``,
    ``DynamoDbNodeStore``, ``AwsSecretsManager``), each on the one resource it is for.

    ``read_secrets``: the member list, the CA (and the tree key when Pulumi wrote it); ``write_secrets``: the node
    certificates' name pattern (created on a node's first certificate) and, when the function generates the tree
    key, that secret. Secrets use the account's ``aws/secretsmanager`` key, so no KMS permission is needed."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnZoneRecords",
            "Effect": "Allow",
            "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
            "Resource": f"arn:{partition}:route53:::hostedzone/{zone_id}",
        },
        {
            "Sid": "NodeTable",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"],
            "Resource": table_arn,
        },
        {
            "Sid": "ReadNetworkSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": sorted(read_secrets),
        },
    ]
    if write_secrets:
        statements.append(
            {
                "Sid": "WriteOwnSecrets",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:CreateSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                ],
                "Resource": sorted(write_secrets),
            }
        )
    statements.append(
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:log-stream:*",
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def lambda_trust_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def gcp_role_id(network: str) -> str:
    """Custom role ids allow letters, digits, ``_`` and ``.`` only."""
    return "lacchainDdns_" + network.replace("-", "_")


def gcp_account_id(network: str) -> str:
    """Service account ids: 6-30 of a-z, 0-9 and '-', starting with a letter."""
    return f"ddns-{network}"[:30].rstrip("-")


def gcp_zone_name(network: str) -> str:
    return f"lacchain-{network}"[:63].rstrip("-")


def _link_of(domain: str) -> Any:
    def render(key_hex: str) -> str:
        return tree_link(NodeKey.from_hex(key_hex).compressed_public_key, domain)

    return render


# -- the component ------------------------------------------------------------------------------------------------


class DdnsZone(pulumi.ComponentResource):
    """A network's DDNS zone and update function on one platform. Outputs: ``update_url``, ``zone_name``,
    ``name_servers``, ``enr_tree_domain``, ``enr_tree_url`` (None when the function makes the tree key), and on
    onprem ``function_environment`` and the secret ``tsig_secret``."""

    update_url: pulumi.Output[str]
    zone_name: str
    name_servers: pulumi.Output[Sequence[str]]
    enr_tree_domain: str | None
    enr_tree_url: pulumi.Output[str | None]
    function_environment: pulumi.Output[dict[str, str]]
    tsig_secret: pulumi.Output[str] | None

    def __init__(self, name: str, args: DdnsZoneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        self._name = name
        self._args = args.validate()
        self._members = args.member_list()
        self._child = pulumi.ResourceOptions(parent=self)
        self._kept = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        self.zone_name = args.zone_name
        self.enr_tree_domain = args.tree_domain if args.settings.tree else None
        self.tsig_secret = None
        link: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if args.settings.tree and args.tree_key is not None:
            # The link holds only the public key: not secret, although it is computed from one.
            link = pulumi.Output.unsecret(pulumi.Output.secret(args.tree_key).apply(_link_of(args.tree_domain)))
        self.enr_tree_url = link
        if args.platform is DdnsPlatform.AWS:
            self._build_aws()
        elif args.platform is DdnsPlatform.GCP:
            self._build_gcp()
        else:
            self._build_onprem()
        self.register_outputs(
            {
                "updateUrl": self.update_url,
                "zoneName": self.zone_name,
                "nameServers": self.name_servers,
                "enrTreeDomain": self.enr_tree_domain,
                "enrTreeUrl": self.enr_tree_url,
            }
        )

    @property
    def _tags(self) -> dict[str, str]:
        return {**self._args.tags, "lacchain:network": self._args.network, "lacchain:purpose": "ddns"}

    @property
    def _labels(self) -> dict[str, str]:
        return {"lacchain-network": self._args.network, "lacchain-purpose": "ddns"}

    def _members_json(self) -> str:
        return json.dumps(dict(self._args.members), sort_keys=True, separators=(",", ":"))

    def _tm_nodes(self) -> list[str]:
        return sorted(m.name for m in self._members if m.transaction_manager)

    # -- aws ------------------------------------------------------------------------------------------------------

    def _build_aws(self) -> None:
        args, name = self._args, self._name
        assert args.aws_region is not None  # validate() checked
        region, network = args.aws_region, args.network
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = identity.arn.apply(lambda arn: arn.split(":")[1])

        zone_id: pulumi.Output[str]
        if args.existing_zone_id is not None:
            found = aws.route53.get_zone_output(
                zone_id=args.existing_zone_id, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            zone_id = pulumi.Output.from_input(args.existing_zone_id)
            self.name_servers = found.name_servers
        else:
            zone = aws.route53.Zone(
                f"{name}-zone",
                name=args.zone_name,
                comment=f"LACChain {network}: node names kept current by the DDNS function",
                tags=self._tags,
                opts=self._kept,
            )
            zone_id = zone.zone_id
            self.name_servers = zone.name_servers

        table = aws.dynamodb.Table(
            f"{name}-nodes",
            name=f"lacchain-ddns-{network}",
            region=region,
            billing_mode="PAY_PER_REQUEST",
            hash_key="nodeId",  # DynamoDbNodeStore's key; the tree sequence is the item "#enrtree"
            attributes=[aws.dynamodb.TableAttributeArgs(name="nodeId", type="S")],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=args.protect,
            tags=self._tags,
            opts=self._kept,
        )

        members = aws.secretsmanager.Secret(
            f"{name}-members",
            name=members_secret(network),
            region=region,
            description=f"LACChain {network}: member list (node ids, names, roles) read by the DDNS function",
            tags=self._tags,
            opts=self._child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-members", secret_id=members.id, secret_string=self._members_json(), region=region, opts=self._child
        )
        ca = aws.secretsmanager.Secret(
            f"{name}-ca",
            name=ca_secret(network),
            region=region,
            description=f"LACChain {network}: TM CA (certificate and key) the DDNS function issues node certificates "
            "with; value from a Pulumi secret or services.ddns_function.bootstrap new-ca",
            tags=self._tags,
            opts=self._kept,
        )
        if args.ca is not None:
            aws.secretsmanager.SecretVersion(
                f"{name}-ca", secret_id=ca.id, secret_string=pulumi.Output.secret(args.ca), region=region,
                opts=self._child,
            )  # fmt: skip
        read: list[pulumi.Output[str]] = [members.arn, ca.arn]
        write: list[pulumi.Output[str]] = [
            pulumi.Output.all(partition, identity.account_id).apply(
                lambda p: secret_arn_pattern(p[0], region, p[1], f"lacchain/{network}/nodes/")
            )
        ]
        if args.settings.tree:
            tree = aws.secretsmanager.Secret(
                f"{name}-tree-key",
                name=tree_key_secret(network),
                region=region,
                description=f"LACChain {network}: secp256k1 key signing the EIP-1459 tree at {args.tree_domain}",
                tags=self._tags,
                opts=self._kept,
            )
            if args.tree_key is not None:
                aws.secretsmanager.SecretVersion(
                    f"{name}-tree-key", secret_id=tree.id, secret_string=pulumi.Output.secret(args.tree_key),
                    region=region, opts=self._child,
                )  # fmt: skip
                read.append(tree.arn)
            else:
                write.append(tree.arn)

        fn_name = function_name(network)
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{fn_name}",
            region=region,
            retention_in_days=LOG_RETENTION_DAYS,
            tags=self._tags,
            opts=self._child,
        )
        role = aws.iam.Role(
            f"{name}-function",
            name=fn_name,
            description=f"LACChain {network} DDNS function",
            assume_role_policy=json.dumps(lambda_trust_policy()),
            tags=self._tags,
            opts=self._child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-function",
            role=role.id,
            policy=pulumi.Output.all(
                partition=partition,
                zone_id=zone_id,
                table_arn=table.arn,
                read=pulumi.Output.all(*read),
                write=pulumi.Output.all(*write),
                log_group_arn=logs.arn,
            ).apply(
                lambda p: json.dumps(
                    aws_function_policy(
                        partition=p["partition"],
                        zone_id=p["zone_id"],
                        table_arn=p["table_arn"],
                        read_secrets=p["read"],
                        write_secrets=p["write"],
                        log_group_arn=p["log_group_arn"],
                    ),
                    sort_keys=True,
                )
            ),
            opts=self._child,
        )
        environment: dict[str, pulumi.Input[str]] = {
            **function_environment(args),
            "DDNS_MEMBERS": f"secret:{members_secret(network)}",
            "DDNS_STORE": "dynamodb",
            "DDNS_TABLE": table.name,
            "DDNS_DNS_BACKEND": "route53",
            "DDNS_ROUTE53_ZONE_ID": zone_id,
            "DDNS_SECRETS": "aws",
        }
        files = function_sources(args.project_root)
        function = aws.lambda_.Function(
            f"{name}-function",
            name=fn_name,
            region=region,
            role=role.arn,
            runtime=LAMBDA_RUNTIME,
            handler=LAMBDA_HANDLER,
            architectures=["x86_64"],
            code=pulumi.AssetArchive({path: pulumi.FileAsset(str(source)) for path, source in files.items()}),
            source_code_hash=archive_digest(files),
            layers=list(args.lambda_layers),
            memory_size=256,
            timeout=30,
            reserved_concurrent_executions=args.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=logs.name),
            description=f"LACChain {network}: signed node address updates, node list, ENR tree",
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, logs]),
        )
        url = aws.lambda_.FunctionUrl(
            f"{name}-url",
            function_name=function.name,
            region=region,
            authorization_type="NONE",  # every write is signed by a member's node key: see the module docstring
            opts=self._child,
        )
        # Since October 2025 a public Function URL needs both statements in the function's resource policy.
        aws.lambda_.Permission(
            f"{name}-url-public",
            function=function.name,
            region=region,
            action="lambda:InvokeFunctionUrl",
            principal="*",
            function_url_auth_type="NONE",
            opts=self._child,
        )
        aws.lambda_.Permission(
            f"{name}-url-invoke",
            function=function.name,
            region=region,
            action="lambda:InvokeFunction",
            principal="*",
            invoked_via_function_url=True,
            opts=self._child,
        )
        self.update_url = url.function_url.apply(lambda u: u.rstrip("/"))
        self.function_environment = pulumi.Output.all(**environment).apply(dict)

    # -- gcp ------------------------------------------------------------------------------------------------------

    def _build_gcp(self) -> None:
        args, name = self._args, self._name
        assert args.gcp_project is not None and args.gcp_region is not None  # validate() checked
        project, region, network = args.gcp_project, args.gcp_region, args.network
        managed_zone: pulumi.Output[str]
        if args.existing_zone_id is not None:
            found = gcp.dns.get_managed_zone_output(
                name=args.existing_zone_id, project=project, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            managed_zone = pulumi.Output.from_input(args.existing_zone_id)
            self.name_servers = found.name_servers
        else:
            zone = gcp.dns.ManagedZone(
                f"{name}-zone",
                name=gcp_zone_name(network),
                dns_name=f"{args.zone_name}.",
                project=project,
                description=f"LACChain {network}: node names kept current by the DDNS function",
                visibility="public",
                labels=self._labels,
                opts=self._kept,
            )
            managed_zone = zone.name
            self.name_servers = zone.name_servers

        account = gcp.serviceaccount.Account(
            f"{name}-function",
            account_id=gcp_account_id(network),
            project=project,
            display_name=f"LACChain {network} DDNS function",
            opts=self._child,
        )
        member = pulumi.Output.concat("serviceAccount:", account.email)
        role = gcp.projects.IAMCustomRole(
            f"{name}-records",
            role_id=gcp_role_id(network),
            project=project,
            title=f"LACChain {network} DDNS records",
            description="Change and list the record sets of one zone (bound on that zone only)",
            permissions=list(CLOUD_DNS_PERMISSIONS),
            opts=self._child,
        )
        gcp.dns.DnsManagedZoneIamMember(
            f"{name}-records",
            project=project,
            managed_zone=managed_zone,
            role=role.name,
            member=member,
            opts=self._child,
        )

        grants: list[pulumi.Resource] = []

        def secret(
            key: str, secret_name: str, kept: bool, roles: Sequence[str], value: pulumi.Input[str] | None
        ) -> None:
            created = gcp.secretmanager.Secret(
                f"{name}-{key}",
                secret_id=gcp_secret_id(secret_name),
                project=project,
                replication=gcp.secretmanager.SecretReplicationArgs(
                    user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
                        replicas=[gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(location=region)]
                    )
                ),
                labels=self._labels,
                opts=self._kept if kept else self._child,
            )
            if value is not None:
                gcp.secretmanager.SecretVersion(f"{name}-{key}", secret=created.id, secret_data=value, opts=self._child)
            for iam_role in roles:
                grants.append(
                    gcp.secretmanager.SecretIamMember(
                        f"{name}-{key}-{iam_role.rsplit('.', 1)[-1]}",
                        project=project,
                        secret_id=created.secret_id,
                        role=iam_role,
                        member=member,
                        opts=self._child,
                    )
                )

        reader = "roles/secretmanager.secretAccessor"
        adder = "roles/secretmanager.secretVersionAdder"
        secret("members", members_secret(network), False, [reader], self._members_json())
        ca_value = pulumi.Output.secret(args.ca) if args.ca is not None else None
        secret("ca", ca_secret(network), True, [reader], ca_value)
        if args.settings.tree:
            if args.tree_key is None:  # the function generates it: it may add the first version
                secret("tree-key", tree_key_secret(network), True, [reader, adder], None)
            else:
                secret("tree-key", tree_key_secret(network), True, [reader], pulumi.Output.secret(args.tree_key))
        if args.certificates_on:
            for node in self._tm_nodes():
                secret(f"{node}-tm-tls", node_certificate_secret(network, node), False, [reader, adder], None)

        files = function_sources(args.project_root)
        extra = {"main.py": gcp_main_py(), "requirements.txt": (args.project_root / "services" / "ddns_function" /
                 "requirements.txt").read_text()}  # fmt: skip
        bucket = gcp.storage.Bucket(
            f"{name}-source",
            name=f"{project}-{function_name(network)}-source"[:63].rstrip("-"),
            project=project,
            location=region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=True,  # only build sources; the function keeps running from its built image
            labels=self._labels,
            opts=self._child,
        )
        source = gcp.storage.BucketObject(
            f"{name}-source",
            bucket=bucket.name,
            name=f"ddns-function-{archive_digest(files, extra)[:16]}.zip",  # a new name per change: a new build
            source=pulumi.AssetArchive(
                {
                    **{path: pulumi.FileAsset(str(src)) for path, src in files.items()},
                    **{path: pulumi.StringAsset(text) for path, text in extra.items()},
                }
            ),
            opts=self._child,
        )
        environment: dict[str, pulumi.Input[str]] = {
            **function_environment(args),
            "DDNS_MEMBERS": f"secret:{members_secret(network)}",
            "DDNS_STORE": "sqlite",
            "DDNS_SQLITE_PATH": "/tmp/lacchain-ddns/nodes.db",
            "DDNS_DNS_BACKEND": "clouddns",
            "DDNS_GCP_PROJECT": project,
            "DDNS_GCP_MANAGED_ZONE": managed_zone,
            "DDNS_SECRETS": "gcp",
        }
        function = gcp.cloudfunctionsv2.Function(
            f"{name}-function",
            name=function_name(network),
            project=project,
            location=region,
            description=f"LACChain {network}: signed node address updates, node list, ENR tree",
            build_config=gcp.cloudfunctionsv2.FunctionBuildConfigArgs(
                runtime=GCP_RUNTIME,
                entry_point=GCP_ENTRY_POINT,
                source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceArgs(
                    storage_source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=bucket.name, object=source.name
                    )
                ),
            ),
            service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
                service_account_email=account.email,
                environment_variables=environment,
                available_memory="256M",
                timeout_seconds=30,
                # One instance: the node table is its SQLite file (see the module docstring).
                min_instance_count=1,
                max_instance_count=1,
                max_instance_request_concurrency=min(args.reserved_concurrency, 80),
                ingress_settings="ALLOW_ALL",
                all_traffic_on_latest_revision=True,
            ),
            labels=self._labels,
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        gcp.cloudrunv2.ServiceIamMember(
            f"{name}-public",
            project=project,
            location=region,
            name=function.name,
            role="roles/run.invoker",
            member="allUsers",  # every write is signed by a member's node key: see the module docstring
            opts=self._child,
        )
        self.update_url = function.url
        self.function_environment = pulumi.Output.all(**environment).apply(dict)

    # -- on-prem --------------------------------------------------------------------------------------------------

    def _build_onprem(self) -> None:
        args, name = self._args, self._name
        dns = args.onprem_dns
        assert dns is not None  # validate() checked
        network = args.network
        kubernetes = args.kubernetes
        secrets_dir = f"{ON_PREM_DATA}/secrets"
        environment: dict[str, str] = {
            **function_environment(args),
            "DDNS_MEMBERS": f"file:{ON_PREM_CONFIG}/members/members.json",
            "DDNS_STORE": "sqlite",
            "DDNS_SQLITE_PATH": f"{ON_PREM_DATA}/nodes.db",
            "DDNS_DNS_BACKEND": "rfc2136",
            "DDNS_DNS_SERVER": dns.server,
            "DDNS_TSIG_KEY_NAME": dns.key_name,
            "DDNS_TSIG_ALGORITHM": dns.algorithm,
            "DDNS_SECRETS": "file",
            "DDNS_SECRETS_DIR": secrets_dir,
        }
        if dns.server_zone is not None:
            environment["DDNS_DNS_ZONE"] = dns.server_zone.rstrip(".").lower()
        self.tsig_secret = pulumi.Output.secret(dns.key_secret)
        self.name_servers = pulumi.Output.from_input(list(dns.name_servers))
        self.function_environment = pulumi.Output.from_input(environment)
        if kubernetes is None:
            self.update_url = pulumi.Output.from_input(args.update_url or "")
            return

        app = function_name(network)
        labels = {"app.kubernetes.io/name": "lacchain-ddns", "app.kubernetes.io/instance": app,
                  "app.kubernetes.io/part-of": "lacchain", "lacchain/network": network}  # fmt: skip
        selector = {"app.kubernetes.io/instance": app}
        namespace = kubernetes.namespace

        def metadata(suffix: str = "") -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=f"{app}{suffix}", namespace=namespace, labels=labels)

        config = k8s.core.v1.ConfigMap(
            f"{name}-members", metadata=metadata("-members"), data={"members.json": self._members_json()},
            opts=self._child,
        )  # fmt: skip
        secret_data: dict[str, pulumi.Input[str]] = {"tsig-secret": self.tsig_secret}
        mounted: list[tuple[str, str]] = []  # (Secret key, secret name = its path under the read-only dir)
        if args.ca is not None:
            secret_data["tm-ca"] = pulumi.Output.secret(args.ca)
            mounted.append(("tm-ca", ca_secret(network)))
        if args.settings.tree and args.tree_key is not None:
            secret_data["enrtree-key"] = pulumi.Output.secret(args.tree_key)
            mounted.append(("enrtree-key", tree_key_secret(network)))
        keys = k8s.core.v1.Secret(
            f"{name}-keys", metadata=metadata("-keys"), type="Opaque", string_data=secret_data, opts=self._child
        )
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata=metadata("-data"),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=kubernetes.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": kubernetes.storage_size}),
            ),
            opts=self._child,
        )
        env = [k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in sorted(environment.items())]
        env.append(
            k8s.core.v1.EnvVarArgs(
                name="DDNS_TSIG_SECRET",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=keys.metadata.name, key="tsig-secret")
                ),
            )
        )
        if mounted:
            env.append(k8s.core.v1.EnvVarArgs(name="DDNS_SECRETS_READONLY_DIR", value=f"{ON_PREM_CONFIG}/keys"))
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="data", mount_path=ON_PREM_DATA),
            k8s.core.v1.VolumeMountArgs(name="members", mount_path=f"{ON_PREM_CONFIG}/members", read_only=True),
        ]
        if mounted:
            mounts.append(k8s.core.v1.VolumeMountArgs(name="keys", mount_path=f"{ON_PREM_CONFIG}/keys", read_only=True))
        probe = k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="http"), period_seconds=10
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-function",
            metadata=metadata(),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,  # SQLite: one writer
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=10001,
                            run_as_group=10001,
                            fs_group=10001,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="ddns-function",
                                image=kubernetes.image,
                                command=["python", "-m", "services.ddns_function.http_server"],
                                args=["--host", "0.0.0.0", "--port", str(ON_PREM_PORT)],
                                env=env,
                                ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=ON_PREM_PORT)],
                                readiness_probe=probe,
                                liveness_probe=probe,
                                volume_mounts=mounts,
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "50m", "memory": "128Mi"}, limits={"memory": "256Mi"}
                                ),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                ),
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="data",
                                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                                    claim_name=claim.metadata.name
                                ),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="members",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config.metadata.name),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="keys",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=keys.metadata.name,
                                    default_mode=0o400,
                                    # Only the CA and tree key, at the paths their secret names give.
                                    items=[k8s.core.v1.KeyToPathArgs(key=key, path=path) for key, path in mounted]
                                    or None,
                                ),
                            ),
                        ],
                    ),
                ),
            ),
            opts=self._child,
        )
        service = k8s.core.v1.Service(
            f"{name}-function",
            metadata=metadata(),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=ON_PREM_PORT, target_port="http")],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )
        cluster_url = service.metadata.apply(lambda m: f"http://{m.name}.{namespace}.svc.cluster.local:{ON_PREM_PORT}")
        self.update_url = pulumi.Output.from_input(args.update_url) if args.update_url else cluster_url
