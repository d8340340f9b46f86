"""The typed schema of a member's stack: who the member is, which network, and which nodes where.

A stack file (``stacks/Pulumi.<stack>.yaml``) holds this document as Pulumi config under the ``lacchain-cloud:``
namespace. It is validated completely before any resource is declared: unknown keys and wrong values are refused
with an error that names the field, the bad value and what is allowed. ``json_schema()`` exports the schema for
editors (``lacchain schema``).
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel as _pydantic_camel

from lacchain.besu.releases import DEFAULT_BESU_VERSION, besu_release, supported_versions
from lacchain.enode import Enode, EnodeError
from lacchain.errors import FieldProblem, InvalidInput
from lacchain.presets import (
    ACCOUNTS_INGRESS_ADDRESS,
    NODES_INGRESS_ADDRESS,
    Consensus,
    PresetName,
    preset,
)
from lacchain.roles import Platform, Role, TransactionManager

CONFIG_NAMESPACE = "lacchain-cloud"


def to_camel(name: str) -> str:
    """snake_case to the camelCase of Pulumi stack files; "p2p_port" is "p2pPort", not "p2PPort"."""
    return re.sub(r"^p2P", "p2p", _pydantic_camel(name))


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class Size(StrEnum):
    """Machine size class, mapped per platform to instance types or pod resources."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"
    XLARGE = "xlarge"


class P2pExposure(StrEnum):
    """How a Kubernetes node's p2p port is reached by peers outside the cluster."""

    LOAD_BALANCER = "loadBalancer"
    NODE_PORT = "nodePort"


class PermissioningMode(StrEnum):
    """Onchain contracts (Besu <= 24.12), local allowlist files (any Besu), or none (private dev networks)."""

    ONCHAIN = "onchain"
    LOCAL = "local"
    NONE = "none"


DEFAULT_SIZE: dict[Role, Size] = {
    Role.VALIDATOR: Size.MEDIUM,
    Role.BOOT: Size.SMALL,
    Role.WRITER: Size.MEDIUM,
    Role.OBSERVER: Size.SMALL,
}
"""What a role needs when the stack does not say: validators sign every block and writers serve RPC and private
transactions; boots and observers only relay and read."""

MIN_DISK_GB: dict[Role, int] = {Role.VALIDATOR: 50, Role.BOOT: 50, Role.WRITER: 80, Role.OBSERVER: 50}
"""Smallest data disk per role: chain data plus headroom; writers also keep private state."""

DEFAULT_DISK_GB = 200
P2P_PORT = 60606


def _check_dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS label; use 1-63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit (e.g. 'validator-1')"
        )
    return value


def _check_address(value: str) -> str:
    if not ADDRESS.match(value):
        raise ValueError(f"{value!r} is not an address; use 0x followed by 40 hex digits")
    return value


DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
Address = Annotated[str, AfterValidator(_check_address)]


class _Model(BaseModel):
    """Stack documents use camelCase keys (Pulumi convention) and refuse unknown keys."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        use_enum_values=False,
    )


class Placement(_Model):
    """Where a node runs. Which fields are required depends on the node's platform."""

    region: str | None = Field(None, description="aws/gcp: region, e.g. us-east-1 or southamerica-east1")
    zone: str | None = Field(None, description="aws: availability zone (optional); gcp: zone (required)")
    project: str | None = Field(None, description="gcp: project id")
    subnet_id: str | None = Field(None, description="aws: subnet to place the instance in (default VPC if unset)")
    network: str | None = Field(None, description="gcp: VPC network name (default 'default')")
    context: str | None = Field(None, description="kubernetes: kubeconfig context (current context if unset)")
    namespace: str | None = Field(None, description="kubernetes: namespace for the node's objects")
    storage_class: str | None = Field(None, description="kubernetes: StorageClass of the data volume")
    create_namespace: bool | None = Field(
        None, description="kubernetes: create the namespace (default true); false when it is managed elsewhere"
    )


DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")


class RpcTls(_Model):
    """Where a Kubernetes node's nginx gets its certificate: a cert-manager ``Certificate`` issued by a ClusterIssuer
    (kept renewed in the node's ``<member>-<node>-rpc-tls`` Secret). Without it, the pod makes a self-signed
    certificate at every start. VMs always make a self-signed one at boot unless one is placed on the host."""

    issuer: str = Field(description="cert-manager ClusterIssuer that signs the node's RPC certificate")
    dns_names: list[str] = Field(
        default_factory=list,
        description="Names to certify; default: the rpc Service's in-cluster names and the node's dnsName. "
        "ACME issuers (Let's Encrypt) certify public names only: list them here",
    )

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not DNS_SUBDOMAIN.match(value):
            raise ValueError(f"{value!r} is not a Kubernetes object name (lower-case DNS subdomain)")
        return value

    @field_validator("dns_names")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        for value in values:
            if not DNS_SUBDOMAIN.match(value.removeprefix("*.")):
                raise ValueError(f"{value!r} is not a lower-case DNS name (a leading '*.' is allowed)")
        return values


_PLACEMENT_FIELDS: dict[Platform, tuple[set[str], set[str]]] = {
    # platform: (required, allowed)
    Platform.AWS: ({"region"}, {"region", "zone", "subnet_id"}),
    Platform.GCP: ({"project", "region", "zone"}, {"project", "region", "zone", "network"}),
    Platform.KUBERNETES: ({"namespace"}, {"context", "namespace", "storage_class", "create_namespace"}),
}


class NodeConfig(_Model):
    """One LACChain node of the member."""

    name: DnsLabel = Field(description="Unique node name; also its DNS label and Kubernetes object name")
    role: Role
    platform: Platform
    placement: Placement
    size: Size = Field(
        Size.MEDIUM,
        description="Machine size class; default per role: validators and writers medium, boots and observers small",
    )
    disk_gb: int = Field(DEFAULT_DISK_GB, description="Data disk size in GiB; kept when the node is replaced")
    transaction_manager: TransactionManager = TransactionManager.NONE
    besu_version: str = Field(DEFAULT_BESU_VERSION, description="Besu release the node runs")
    machine_image: str | None = Field(
        None,
        description="aws/gcp: the VM image (AMI id, or GCP image self-link/family); default: the NodeImage of the "
        "node's role if the member publishes one, else the official Debian 12 image",
    )
    dns_name: str | None = Field(None, description="Public DNS name used as the host in the node's enode URL")
    static_address: bool = Field(True, description="Reserve a static public IP (Elastic IP / static address)")
    p2p_port: int = Field(P2P_PORT, ge=1024, le=65535)
    p2p_exposure: P2pExposure = P2pExposure.LOAD_BALANCER
    rpc_allowed_cidrs: list[str] = Field(
        default_factory=list, description="Sources allowed to reach RPC through nginx; never 0.0.0.0/0"
    )
    rpc_tls: RpcTls | None = Field(
        None, description="kubernetes: cert-manager issuer of nginx's certificate (overrides network.rpcTls)"
    )

    @model_validator(mode="before")
    @classmethod
    def _size_by_role(cls, data: Any) -> Any:
        if isinstance(data, dict) and "size" not in data:
            role = data.get("role")
            if isinstance(role, str) and role in Role._value2member_map_:
                return {**data, "size": DEFAULT_SIZE[Role(role)].value}
        return data

    @field_validator("besu_version")
    @classmethod
    def _known_besu(cls, value: str) -> str:
        if value not in supported_versions():
            raise ValueError(f"{value!r} is not a supported Besu version; use one of {', '.join(supported_versions())}")
        return value

    @field_validator("dns_name")
    @classmethod
    def _dns_name(cls, value: str | None) -> str | None:
        if value is not None and not DNS_NAME.match(value):
            raise ValueError(f"{value!r} is not a fully qualified lower-case DNS name (e.g. 'val1.example.org')")
        return value

    @field_validator("rpc_allowed_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                network = ipaddress.ip_network(value, strict=True)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a CIDR block ({exc}); e.g. '203.0.113.0/24'") from None
            if network.prefixlen == 0:
                raise ValueError(
                    f"{value!r} opens RPC to the whole Internet; list the networks of your applications instead"
                )
        return values

    @model_validator(mode="after")
    def _coherent(self) -> NodeConfig:
        required, allowed = _PLACEMENT_FIELDS[self.platform]
        given = {name for name in Placement.model_fields if getattr(self.placement, name) is not None}
        missing = sorted(required - given)
        extra = sorted(given - allowed)
        if missing:
            names = ", ".join(f"placement.{to_camel(m)}" for m in missing)
            raise ValueError(f"{names} required for platform {self.platform.value}")
        if extra:
            names = ", ".join(f"placement.{to_camel(e)}" for e in extra)
            raise ValueError(f"{names} not used on platform {self.platform.value}; remove it")
        minimum = MIN_DISK_GB[self.role]
        if self.disk_gb < minimum:
            raise ValueError(f"diskGb {self.disk_gb} is below the {minimum} GiB a {self.role.value} needs")
        if self.transaction_manager is not TransactionManager.NONE:
            if self.role is not Role.WRITER:
                raise ValueError(
                    f"transactionManager {self.transaction_manager.value} on a {self.role.value}: private "
                    "transactions go through writer nodes; set transactionManager: none"
                )
            if not besu_release(self.besu_version).supports_privacy:
                raise ValueError(
                    f"transactionManager {self.transaction_manager.value} needs privacy, which Besu "
                    f"{self.besu_version} no longer has; use besuVersion {DEFAULT_BESU_VERSION}"
                )
        if self.platform is not Platform.KUBERNETES and not self.static_address and self.dns_name is None:
            raise ValueError(
                f"a {self.role.value} on {self.platform.value} needs a stable p2p address for its enode URL: "
                "keep staticAddress: true or set dnsName (with the DDNS daemon keeping it current)"
            )
        if self.machine_image is not None and self.platform is Platform.KUBERNETES:
            raise ValueError("machineImage on kubernetes: pods run container images; remove it")
        if self.rpc_allowed_cidrs and self.role is Role.VALIDATOR:
            raise ValueError("rpcAllowedCidrs on a validator: validators expose no RPC; remove it")
        if self.rpc_tls is not None and self.role is Role.VALIDATOR:
            raise ValueError("rpcTls on a validator: validators expose no RPC; remove it")
        if self.rpc_tls is not None and self.platform is not Platform.KUBERNETES:
            raise ValueError(
                f"rpcTls on {self.platform.value}: cert-manager issues certificates in a Kubernetes cluster; a VM "
                "makes a self-signed certificate at boot unless one is placed in /run/lacchain/keys/nginx"
            )
        return self


class Permissioning(_Model):
    mode: PermissioningMode | None = Field(None, description="Default: the preset's (onchain for LACChain)")
    contract_version: int = Field(1, ge=1, le=2, description="Besu node permissioning interface version")
    nodes_contract: Address = NODES_INGRESS_ADDRESS
    accounts_contract: Address = ACCOUNTS_INGRESS_ADDRESS
    accounts_contract_enabled: bool | None = Field(
        None,
        description="Also permission accounts onchain. Default: true when joining a LACChain network (its genesis "
        "has the accounts ingress), false for a generated network",
    )
    admins: list[Address] = Field(
        default_factory=list,
        description="Generated networks with onchain permissioning: accounts that administer the node allowlist "
        "contracts placed in the genesis",
    )


class DdnsKubernetes(_Model):
    """Run the on-prem DDNS function in a cluster (one replica, its SQLite table on a volume)."""

    image: str = Field(
        description="Image with lacchain/ and services/ddns_function/, e.g. <registry>/ddns-function:0.1.0"
    )
    namespace: DnsLabel
    context: str | None = Field(None, description="kubeconfig context (current context if unset)")
    storage_class: str | None = None


class DdnsOnPrem(_Model):
    """The RFC 2136 server the on-prem DDNS function updates. Its TSIG key is the secret ``ddnsTsigSecret``."""

    server: str = Field(description="The zone's primary, host or host:port")
    key_name: str = Field(description="TSIG key name the server grants updates of the zone to")
    algorithm: str = "hmac-sha256"
    server_zone: str | None = Field(None, description="The server's zone, when `zone` is below it")
    name_servers: list[str] = Field(default_factory=list)
    url: str | None = Field(None, description="Where nodes reach the function (its TLS proxy or ingress)")
    kubernetes: DdnsKubernetes | None = None


class DdnsConfig(_Model):
    """The network's Dynamic DNS (``components/ddns_zone.py``): node names under ``zone``, kept current by the DDNS
    update function that every node's daemon posts its address to. One stack operates it (``platform``); the
    others point their daemons at it (``url``)."""

    network: DnsLabel = Field(description="The network's name as signed into every update; the same in every stack")
    zone: str = Field(description="DNS zone of node names, e.g. nodes.example.org")
    platform: Literal["aws", "gcp", "onprem"] | None = Field(
        None, description="Operate the zone and function here: aws, gcp or onprem"
    )
    url: str | None = Field(None, description="Update function URL, when another stack operates the DDNS")
    region: str | None = Field(None, description="aws/gcp: region of the function")
    project: str | None = Field(None, description="gcp: project of the zone and function")
    existing_zone_id: str | None = Field(None, description="aws: hosted zone id / gcp: managed zone to use")
    other_members_file: str | None = Field(
        None,
        description="JSON member list ({network, nodes: [{nodeId, name, role}]}) of the other members' nodes the "
        "function accepts, path relative to the project; this stack's nodes are added to it",
    )
    window_seconds: int = Field(300, ge=1, le=86400)
    allowed_private_cidrs: list[str] = Field(default_factory=list)
    lambda_layers: list[str] = Field(
        default_factory=list, description="aws: the dependencies layer built from services/ddns_function"
    )
    onprem: DdnsOnPrem | None = None

    @model_validator(mode="after")
    def _operated_or_used(self) -> DdnsConfig:
        if (self.platform is None) == (self.url is None):
            raise ValueError("ddns: set platform (this stack operates the DDNS) or url (another stack does), not both")
        if self.platform in ("aws", "gcp") and not self.region:
            raise ValueError(f"ddns.region required on {self.platform}")
        if self.platform == "gcp" and not self.project:
            raise ValueError("ddns.project required on gcp")
        if (self.platform == "onprem") != (self.onprem is not None):
            raise ValueError("ddns.onprem is required with platform onprem, and only then")
        return self


class NetworkConfig(_Model):
    """The network the member's nodes belong to."""

    preset: PresetName = PresetName.CUSTOM
    genesis_file: str | None = Field(
        None, description="Published genesis of the network to join (path relative to the project)"
    )
    consensus: Consensus | None = None
    chain_id: int | None = Field(None, ge=1)
    block_period_seconds: int | None = Field(None, ge=1)
    epoch_length: int | None = Field(None, ge=1)
    request_timeout_seconds: int | None = Field(None, ge=1)
    extra_validators: list[Address] = Field(
        default_factory=list, description="Validator addresses of other members, for a generated genesis"
    )
    bootnodes: list[str] = Field(default_factory=list, description="Enode URLs of the network's boot nodes")
    allowlist: list[str] = Field(
        default_factory=list,
        description="Enode URLs of other members' nodes allowed to connect (local permissioning mode)",
    )
    discovery_dns_url: str | None = Field(
        None, description="EIP-1459 node list, e.g. 'enrtree://AM5F...@nodes.example.org' (DdnsZone output)"
    )
    permissioning: Permissioning = Permissioning()
    ethstats_url: str | None = Field(None, description="ethstats server, e.g. 'wss://ethstats.example.org'")
    metrics_push_host: str | None = Field(None, description="Prometheus push gateway host (port 9091)")
    rpc_tls: RpcTls | None = Field(
        None,
        description="Default cert-manager issuer of nginx's certificate for the member's Kubernetes nodes that serve "
        "RPC (a node's own rpcTls wins; VM nodes are not affected)",
    )
    ddns: DdnsConfig | None = Field(None, description="Dynamic DNS of the network's node names")

    @field_validator("discovery_dns_url")
    @classmethod
    def _enrtree(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^enrtree://[A-Z2-7]{52,53}@[a-z0-9.-]+$", value):
            raise ValueError(f"{value!r} is not an EIP-1459 link; expected enrtree://<base32 public key>@<domain>")
        return value

    @field_validator("bootnodes", "allowlist")
    @classmethod
    def _enodes(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                Enode.parse(value)
            except EnodeError as exc:
                raise ValueError(str(exc)) from None
        return values

    @model_validator(mode="after")
    def _coherent(self) -> NetworkConfig:
        chosen = preset(self.preset)
        if chosen.requires_published_genesis and self.genesis_file is None:
            raise ValueError(
                f"genesisFile required to join {self.preset.value}: set it to the network's published "
                "genesis.json (its hash is the genesis block; a generated one would start another chain)"
            )
        if self.preset is PresetName.CUSTOM and self.genesis_file is None and self.chain_id is None:
            raise ValueError("chainId required for a custom network without genesisFile (e.g. chainId: 1337)")
        if self.genesis_file is None and self.permissioning_mode is PermissioningMode.ONCHAIN:
            if not self.permissioning.admins:
                raise ValueError(
                    "permissioning.admins required: a generated network with onchain permissioning places the node "
                    "allowlist contracts in its genesis, and someone must administer them (an account address)"
                )
            if self.permissioning.contract_version != 2:
                raise ValueError(
                    "permissioning.contractVersion must be 2 for a generated network: its contracts take DNS hosts "
                    "(interface v2)"
                )
        return self

    @property
    def accounts_permissioning(self) -> bool:
        if self.permissioning.accounts_contract_enabled is not None:
            return self.permissioning.accounts_contract_enabled
        return self.genesis_file is not None

    @property
    def permissioning_mode(self) -> PermissioningMode:
        if self.permissioning.mode is not None:
            return self.permissioning.mode
        return PermissioningMode.ONCHAIN if preset(self.preset).onchain_permissioning else PermissioningMode.NONE


class ImageRegistry(_Model):
    """Where the node's service images are pushed and pulled (ECR, Artifact Registry or any registry)."""

    url: str = Field(
        description="Registry and repository prefix, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/lacchain"
    )
    build: bool = Field(False, description="Build and push the images in images/ with pulumi-docker")


class MemberStack(_Model):
    """The whole ``lacchain-cloud:`` configuration of one member stack."""

    member: DnsLabel = Field(description="Member name, used in resource names and tags")
    network: NetworkConfig
    nodes: list[NodeConfig] = Field(min_length=1)
    node_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Node private keys (hex), by node name. Set them as secrets: "
        "pulumi config set --secret --path 'lacchain-cloud:nodeKeys.<node>' <hex>",
    )
    dev_key_seed: str | None = Field(
        None,
        description="Development networks only: derive every node key from this public seed (like anvil's "
        "mnemonic) so a local network needs no secrets. Refused for LACChain networks.",
    )
    registry: ImageRegistry | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    ddns_tree_key: str | None = Field(
        None,
        description="The DDNS tree's secp256k1 key (hex), a secret; unset: the function generates it on first use",
    )
    ddns_ca: str | None = Field(
        None, description='The TM CA {"certificate", "privateKey"} JSON, a secret (or use `bootstrap new-ca`)'
    )
    ddns_tsig_secret: str | None = Field(None, description="ddns.platform onprem: the TSIG key (base64), a secret")

    @field_validator("ddns_tree_key")
    @classmethod
    def _tree_key_format(cls, value: str | None) -> str | None:
        if value is not None and not PRIVATE_KEY.match(value):
            raise ValueError("ddnsTreeKey is not 64 hex digits; make one with 'lacchain keys new'")  # never echoed
        return value

    @field_validator("node_keys")
    @classmethod
    def _key_format(cls, keys: dict[str, str]) -> dict[str, str]:
        for name, value in keys.items():
            if not PRIVATE_KEY.match(value):
                # Never echo the value: it is meant to be a private key.
                raise ValueError(f"the key of {name!r} is not 64 hex digits; run 'lacchain keys new' to make one")
        return keys

    @model_validator(mode="after")
    def _coherent(self) -> MemberStack:
        names = [node.name for node in self.nodes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate node names {', '.join(duplicates)}; every node needs its own name")
        unknown = sorted(set(self.node_keys) - set(names))
        if unknown:
            raise ValueError(f"nodeKeys for unknown nodes {', '.join(unknown)}; remove them or add those nodes")
        if self.dev_key_seed is not None and preset(self.network.preset).requires_published_genesis:
            raise ValueError(
                f"devKeySeed on {self.network.preset.value}: derived keys are public, so anyone could impersonate "
                "these nodes. Remove devKeySeed and set nodeKeys as secrets (lacchain keys new)"
            )
        mode = self.network.permissioning_mode
        for node in self.nodes:
            if mode is PermissioningMode.ONCHAIN and not besu_release(node.besu_version).supports_onchain_permissioning:
                raise ValueError(
                    f"node {node.name}: onchain permissioning needs Besu {DEFAULT_BESU_VERSION}; "
                    f"{node.besu_version} removed it. Set besuVersion {DEFAULT_BESU_VERSION} or "
                    "network.permissioning.mode: local"
                )
        has_validator = any(n.role is Role.VALIDATOR for n in self.nodes)
        if self.network.genesis_file is None and not (has_validator or self.network.extra_validators):
            raise ValueError(
                "a generated genesis needs at least one validator: add a validator node or network.extraValidators"
            )
        return self

    def node(self, name: str) -> NodeConfig:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def rpc_tls_of(self, node: NodeConfig) -> RpcTls | None:
        """The cert-manager settings of a node's RPC certificate: its own, else the network's (Kubernetes RPC
        nodes only), else None (a self-signed certificate)."""
        if node.role is Role.VALIDATOR or node.platform is not Platform.KUBERNETES:
            return None
        return node.rpc_tls or self.network.rpc_tls


def _field_path(loc: tuple[int | str, ...], document: dict[str, Any]) -> str:
    """Render a pydantic error location as the stack-file key a user edits, e.g.
    ``lacchain-cloud:nodes[0] (validator-1).role``."""
    parts: list[str] = []
    cursor: Any = document
    for index, item in enumerate(loc):
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(cursor, list) and item < len(cursor):
                cursor = cursor[item]
                if isinstance(cursor, dict) and isinstance(cursor.get("name"), str):
                    label += f" ({cursor['name']})"
            parts.append(label)
            continue
        if index == 0:
            parts.append(f"{CONFIG_NAMESPACE}:{item}")
        else:
            parts.append(f".{item}")
        cursor = cursor.get(item) if isinstance(cursor, dict) else None
    return "".join(parts) if parts else f"{CONFIG_NAMESPACE}"


def _problem(error: Any, document: dict[str, Any]) -> FieldProblem:
    loc = tuple(error["loc"])
    kind = error["type"]
    field = _field_path(loc, document)
    if kind == "extra_forbidden":
        return FieldProblem(field, "unknown key", "remove it or check its spelling against `lacchain schema`")
    if kind == "missing":
        return FieldProblem(field, "required but missing", "add it to the stack file")
    if kind in ("enum", "literal_error"):
        expected = error.get("ctx", {}).get("expected", "")
        return FieldProblem(field, f"{error['input']!r} is not allowed", f"use one of {expected}")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return FieldProblem(field, message)
    shown = error.get("input")
    shown_text = "" if isinstance(shown, (dict, list)) else f" (got {shown!r})"
    return FieldProblem(field, f"{message}{shown_text}", "see `lacchain schema` for what this field takes")


def parse_member_stack(document: dict[str, Any], source: str = "stack config") -> MemberStack:
    """Validate a ``lacchain-cloud:`` config document (keys without the namespace) into a ``MemberStack``.

    Raises ``InvalidInput`` listing every problem, each naming the stack-file key and the fix.
    """
    try:
        return MemberStack.model_validate(document)
    except ValidationError as exc:
        problems = [_problem(error, document) for error in exc.errors()]
        raise InvalidInput(problems, source) from None


def stack_document(pulumi_config: dict[str, Any]) -> dict[str, Any]:
    """Pick the ``lacchain-cloud:`` keys out of a stack file's ``config:`` map (other namespaces, like
    ``aws:region``, belong to providers), stripping the namespace."""
    prefix = f"{CONFIG_NAMESPACE}:"
    return {key.removeprefix(prefix): value for key, value in pulumi_config.items() if key.startswith(prefix)}


def encrypted_paths(value: Any, path: str) -> list[str]:
    """Where a stack file holds Pulumi-encrypted values (``{secure: ...}``), at any depth."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [path]
        return [p for key, item in value.items() for p in encrypted_paths(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in encrypted_paths(item, f"{path}[{index}]")]
    return []


def read_stack_file(path: Path) -> dict[str, Any]:
    """The ``lacchain-cloud:`` document of ``stacks/Pulumi.<stack>.yaml`` (not yet validated)."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput.single(str(path), f"not valid YAML ({exc})", "fix the YAML syntax") from None
    config = raw.get("config") if isinstance(raw, dict) else None
    if not isinstance(config, dict):
        raise InvalidInput.single(f"{path}:config", "must be a map of keys to values", source=str(path))
    return stack_document(config)


def refuse_encrypted(document: dict[str, Any], source: str) -> None:
    """Encrypted values can only be decrypted by the Pulumi CLI; say so, and how to synth anyway."""
    secure = [p for key, value in document.items() for p in encrypted_paths(value, f"{CONFIG_NAMESPACE}:{key}")]
    if secure:
        raise InvalidInput(
            [
                FieldProblem(
                    p,
                    "is encrypted with the stack's secrets provider, which only the Pulumi CLI can decrypt",
                    "run `pulumi preview` for this stack, or give synth the node keys with --node-keys DIR",
                )
                for p in secure
            ],
            source,
        )


def load_stack_file(path: Path) -> MemberStack:
    """Read and validate ``stacks/Pulumi.<stack>.yaml``."""
    document = read_stack_file(path)
    refuse_encrypted(document, str(path))
    return parse_member_stack(document, source=str(path))


def stack_file_json_schema() -> dict[str, Any]:
    """JSON Schema of a whole ``stacks/Pulumi.<stack>.yaml``: the ``lacchain-cloud:`` keys under ``config:`` (plain
    or ``{secure: ...}`` for secrets), other namespaces (providers' ``aws:region``...) left open. Editors with a YAML
    language server validate stack files with it (the stack files carry a ``$schema`` modeline)."""
    document = json_schema()
    secure = {"type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"]}
    properties = {
        f"{CONFIG_NAMESPACE}:{name}": {"anyOf": [prop, secure]} if name == "nodeKeys" else prop
        for name, prop in document["properties"].items()
    }
    node_keys = properties.get(f"{CONFIG_NAMESPACE}:nodeKeys")
    if node_keys is not None:
        node_keys["anyOf"][0] = {"type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, secure]}}
    return {
        "$schema": document["$schema"],
        "title": "lacchain-cloud Pulumi stack file (stacks/Pulumi.<stack>.yaml)",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": properties,
                "required": [f"{CONFIG_NAMESPACE}:{name}" for name in document.get("required", [])],
                "patternProperties": {f"^(?!{CONFIG_NAMESPACE}:)": {}},
                "additionalProperties": False,
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
        },
        "$defs": document.get("$defs", {}),
    }


def json_schema() -> dict[str, Any]:
    """JSON Schema of the ``lacchain-cloud:`` config document, for editors and reviewers."""
    schema = MemberStack.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lacchain-cloud member stack (keys under the 'lacchain-cloud:' config namespace)"
    return schema
