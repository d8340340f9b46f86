"""The contract every LacchainNode platform backend implements.

Deployment is two-phase because nodes name each other: every node's p2p address must exist before any node's
files (bootnodes, static nodes, allowlists) can be rendered. So a backend first *reserves an address* (an Elastic
IP, a GCP static address, or a Kubernetes Service and its DNS name); the member program renders every node's files
from all addresses; only then does the backend *deploy* the node's compute with those files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pulumi

from lacchain.stack_config import NetworkConfig, NodeConfig


@dataclass(frozen=True)
class ServiceImages:
    """Container images of a node's services: official upstream images where they exist, ours otherwise."""

    besu: str
    tessera: str = "quorumengineering/tessera:24.4.2"
    orion: str = "consensys/orion:21.7.3"
    nginx: str = "nginx:1.27-alpine"
    ethstats: str = "ghcr.io/lacchain-cloud/ethstats-client:0.1.0"
    healthcheck: str = "ghcr.io/lacchain-cloud/healthcheck:0.1.0"
    keyagent: str = "ghcr.io/lacchain-cloud/keyagent:0.1.0"
    ddns: str = "ghcr.io/lacchain-cloud/ddns-daemon:0.1.0"


@dataclass(frozen=True)
class NodeContext:
    """Everything static a backend needs to know about the node it deploys."""

    member: str
    node: NodeConfig
    network: NetworkConfig
    images: ServiceImages
    provider: pulumi.ProviderResource | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def resource_name(self) -> str:
        """Prefix of every resource of this node: unique within the stack."""
        return f"{self.member}-{self.node.name}"

    def opts(self, parent: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
        """Options for a child resource: parented to the node, on the node's provider."""
        return pulumi.ResourceOptions(parent=parent, provider=self.provider, **extra)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NodeInputs:
    """What the member program hands a backend in phase two."""

    files: pulumi.Output[dict[str, str]]
    """Non-secret rendered files, relative to ``lacchain.layout.CONFIG_DIR``."""
    node_key: pulumi.Output[str]
    """The Besu ``key`` file content. Always a Pulumi secret."""


@dataclass(frozen=True)
class NodeDeployment:
    """What a deployed node exposes to the member program and to other stacks."""

    rpc_endpoint: pulumi.Output[str] | None
    """Where nginx serves RPC (https URL), or None for nodes without RPC (validators)."""
    extra_outputs: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class NodeBackend(Protocol):
    """One platform (Kubernetes, AWS, GCP)."""

    def reserve_address(self, ctx: NodeContext, parent: pulumi.Resource) -> pulumi.Output[str]:
        """Create what gives the node a stable p2p address and return the host for its enode URL."""
        ...

    def deploy(self, ctx: NodeContext, inputs: NodeInputs, parent: pulumi.Resource) -> NodeDeployment:
        """Create the node's compute, storage, network rules and identity, all as children of ``parent``."""
        ...
