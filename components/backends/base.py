"""The contract every LacchainNode platform backend implements.

Deployment is two-phase because nodes name each other: every node's p2p address must exist before any node's
files (bootnodes, static nodes, allowlists) can be rendered. So a backend first *reserves an address* (an Elastic
IP, a GCP static address, or a Kubernetes Service and its DNS name); the member program renders every node's files
from all addresses; only then does the backend *deploy* the node's compute with those files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Protocol, TypeVar

import pulumi

from lacchain.kubernetes import Images
from lacchain.network_plan import MemberPlan
from lacchain.stack_config import NetworkConfig, NodeConfig, RpcTls

if TYPE_CHECKING:  # the vault module imports both cloud SDKs; backends receive a vault, they never build one
    from components.orion_key_vault import NodeKeyVault, OrionKeyVault, Reader


ServiceImages = Images
"""The node's container images (``lacchain.kubernetes.Images``): one definition for pods and VMs."""


@dataclass(frozen=True)
class TmKeyAccess:
    """A writer's place in its member's ``OrionKeyVault``, which exists before the node (its key agent's settings
    go into the node's boot files). The backend grants the node's identity with ``grant`` as soon as it has created
    it, and makes the node's compute depend on what ``grant`` returns, so the agent's first run is authorized."""

    vault: OrionKeyVault
    node: str

    @property
    def keys(self) -> NodeKeyVault:
        """``secret_ref`` (not secret) and ``agent_env`` (the agent's ``LACCHAIN_KEYAGENT_*`` settings)."""
        return self.vault.nodes[self.node]

    def grant(self, reader: Reader) -> list[pulumi.Resource]:
        return self.vault.grant(self.node, reader)


@dataclass(frozen=True)
class NodeContext:
    """Everything static a backend needs to know about the node it deploys."""

    member: str
    node: NodeConfig
    network: NetworkConfig
    images: ServiceImages
    provider: pulumi.ProviderResource | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    tm_keys: TmKeyAccess | None = None
    """Writers with a transaction manager: where their keys are kept (None for every other node)."""
    rpc_tls: RpcTls | None = None
    """Kubernetes nodes that serve RPC: the cert-manager issuer of nginx's certificate (None: self-signed)."""
    prerequisites: tuple[pulumi.Resource, ...] = ()
    """Resources every object of the node must wait for (a Namespace created by this stack): a first
    ``pulumi up`` would otherwise race them."""
    ddns_url: pulumi.Input[str] | None = None
    """The network's DDNS update function (``network.ddns``): the node's daemon gets it as
    ``LACCHAIN_DDNS_FUNCTION__URL`` and the DDNS network name as ``LACCHAIN_DDNS_NETWORK`` (None: no daemon)."""

    @property
    def resource_name(self) -> str:
        """Prefix of every resource of this node: unique within the stack."""
        return f"{self.member}-{self.node.name}"

    def opts(self, parent: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
        """Options for a child resource: parented to the node, on the node's provider, after what the node's
        place must have first (its Kubernetes Namespace)."""
        depends = [*self.prerequisites, *extra.pop("depends_on", [])]  # type: ignore[misc]
        return pulumi.ResourceOptions(
            parent=parent,
            provider=self.provider,
            depends_on=depends or None,
            **extra,  # type: ignore[arg-type]
        )


T = TypeVar("T")
U = TypeVar("U")


def lift(value: pulumi.Input[T], fn: Callable[[T], U]) -> pulumi.Input[U]:
    """``fn(value)`` now when the value is known, else ``value.apply(fn)``: plain values stay plain, so large
    networks whose addresses are all known up front build no Output graph at all."""
    if isinstance(value, pulumi.Output):
        return value.apply(fn)
    return fn(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NodeInputs:
    """What the member program hands a backend in phase two.

    The file views are created on first use: a backend pays only for the Outputs it reads, which matters for
    large networks (every Output is a task in Pulumi's runtime).
    """

    name: str
    plan: pulumi.Input[MemberPlan]
    """The member plan: a plain value when every address was known up front (Kubernetes), else an Output."""
    node_key: pulumi.Output[str]
    """The Besu ``key`` file content. Always a Pulumi secret."""
    own_file_names: tuple[str, ...] = ()
    """Names of the node's own files (known before addresses resolve: they do not depend on them)."""
    shared_file_names: tuple[str, ...] = ()
    """Names of the member-wide files."""

    @cached_property
    def files(self) -> pulumi.Input[dict[str, str]]:
        """Every non-secret file the node needs, relative to ``lacchain.layout.CONFIG_DIR`` (VMs write them all)."""
        return lift(self.plan, lambda p: p.files_of(self.name))

    @cached_property
    def own_files(self) -> pulumi.Input[dict[str, str]]:
        """The node's own files only, for platforms that store the member-wide ones once."""
        return lift(self.plan, lambda p: dict(p[self.name].files))

    @cached_property
    def shared_files(self) -> pulumi.Input[dict[str, str]]:
        """Files that are the same on every node of the member (genesis, local allowlist)."""
        return lift(self.plan, lambda p: dict(p.shared))


@dataclass(frozen=True)
class NodeDeployment:
    """What a deployed node exposes to the member program and to other stacks."""

    rpc_endpoint: pulumi.Output[str] | None
    """Where nginx serves RPC (https URL), or None for nodes without RPC (validators)."""
    extra_outputs: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class NodeBackend(Protocol):
    """One platform (Kubernetes, AWS, GCP)."""

    def reserve_address(self, ctx: NodeContext, parent: pulumi.Resource) -> pulumi.Input[str]:
        """Create what gives the node a stable p2p address and return the host for its enode URL (a plain string
        when it is known before deployment, like a Kubernetes Service's DNS name)."""
        ...

    def deploy(self, ctx: NodeContext, inputs: NodeInputs, parent: pulumi.Resource) -> NodeDeployment:
        """Create the node's compute, storage, network rules and identity, all as children of ``parent``."""
        ...
