"""What the AWS and GCP backends share: the node's pod facts for ``lacchain.vm``, names, and IAM/firewall inputs.

Kept free of any cloud SDK so both backends (and their tests) import it without pulling the other cloud in.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pulumi

from components.backends.base import NodeContext, NodeInputs
from lacchain import kubernetes as manifests
from lacchain.roles import Role
from lacchain.sizing import size_class

VM_NAMESPACE = "vm"
"""``NodeObjects`` needs a namespace; on a VM it only appears in the rendered pod's metadata, never on the host."""


def pod_facts(ctx: NodeContext, inputs: NodeInputs) -> manifests.NodeObjects:
    """The node as ``lacchain.kubernetes`` sees it: ``lacchain.vm`` translates that pod's containers. Its file names
    decide optional containers (the DDNS daemon runs where the plan rendered its configuration)."""
    node = ctx.node
    return manifests.NodeObjects(
        member=ctx.member,
        name=node.name,
        namespace=VM_NAMESPACE,
        role=node.role,
        transaction_manager=node.transaction_manager,
        size=size_class(node.size),
        disk_gb=node.disk_gb,
        images=ctx.images,
        file_keys=inputs.own_file_names,
        shared_keys=inputs.shared_file_names,
        p2p_port=node.p2p_port,
        dns_name=node.dns_name,
        ethstats_url=ctx.network.ethstats_url,
    )


def secret_value(value: pulumi.Output[str]) -> pulumi.Output[str]:
    """``value`` marked secret again: the node key is a secret by contract, and stays one here even if a caller
    ever forgets."""
    marked: pulumi.Output[str] = pulumi.Output.secret(value)  # type: ignore[arg-type]
    return marked


def serves_rpc(ctx: NodeContext) -> bool:
    return ctx.node.role is not Role.VALIDATOR


def short_name(base: str, limit: int, *, allow_dot: bool = False) -> str:
    """``base`` as a cloud resource name of at most ``limit`` characters: unchanged when it fits, otherwise cut and
    suffixed with a hash of the whole, so two long names never collide and a name never changes between runs."""
    cleaned = re.sub(r"[^a-z0-9.-]" if allow_dot else r"[^a-z0-9-]", "-", base.lower())
    if len(cleaned) <= limit:
        return cleaned
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{cleaned[: limit - 9].rstrip('-')}-{digest}"


def tags_for(ctx: NodeContext, **extra: str) -> dict[str, str]:
    """The member's tags plus the node's identity; resources of one node are findable by ``lacchain-node``."""
    return {**dict(ctx.tags), "lacchain-role": ctx.node.role.value, **extra}


def gcp_labels(ctx: NodeContext) -> dict[str, str]:
    """GCP labels: lower-case keys/values of letters, digits, '-' and '_', at most 63 characters."""

    def clean(text: str) -> str:
        return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:63]

    return {clean(k): clean(v) for k, v in tags_for(ctx).items()}


def member_peer_hosts(ctx: NodeContext, inputs: NodeInputs) -> pulumi.Output[list[Any]]:
    """[p2p hosts of the member's other nodes whose connections this node accepts (``lacchain.topology.PEERS``),
    hosts of the member's other writers with a transaction manager]: the VM twin of a NetworkPolicy's label
    selectors. Besu's static nodes are not enough: they name whom a node *dials*, not everyone who dials it."""
    from lacchain.enode import Enode
    from lacchain.network_plan import MemberPlan
    from lacchain.roles import TransactionManager
    from lacchain.topology import accepts_p2p_from

    me = ctx.node
    accepted = accepts_p2p_from(me.role)

    def pick(plan: MemberPlan) -> list[Any]:
        others = [p for name, p in sorted(plan.nodes.items()) if name != me.name]
        peers = [Enode.parse(p.enode).host for p in others if p.node.role in accepted]
        tms = [Enode.parse(p.enode).host for p in others if p.node.transaction_manager is not TransactionManager.NONE]
        return [peers, tms]

    return pulumi.Output.from_input(inputs.plan).apply(pick)


def node_ingress_rules(ctx: NodeContext, resolved: list[Any]) -> list[Any]:
    """``lacchain.vm.ingress_rules`` for the node, from [files, own host, [peer hosts, TM peer hosts]]."""
    from lacchain import vm
    from lacchain.roles import TransactionManager

    files, own, (peer_hosts, tm_hosts) = resolved
    node = ctx.node
    external = [*ctx.network.bootnodes, *ctx.network.allowlist]
    peers = vm.known_peer_sources(files, own or None, peer_hosts, external)
    return vm.ingress_rules(
        node.role,
        node.transaction_manager is not TransactionManager.NONE,
        node.p2p_port,
        peers,
        node.rpc_allowed_cidrs,
        vm.host_cidrs(tm_hosts, exclude=own or None),
    )
