"""The member program: one member's validated stack becomes its LACChain nodes and their shared resources.

``__main__.py`` (what ``pulumi up`` runs), ``lacchain synth`` (the same program under Pulumi's mock engine) and
the BaaS controller (through the Automation API) all call ``deploy_member``; none of them builds resources itself.

Everything that can be checked is checked before the first resource is declared: the stack schema, the node keys,
the genesis file, and a dry render of every node's files (with the hosts the stack determines, and placeholders for
the addresses a cloud assigns), so a mistake in a stack file never leaves half a deployment behind.

Writers with a transaction manager keep their keys in an ``OrionKeyVault``: one per AWS region, per GCP project
and region, and per Kubernetes cluster context and namespace, declared before any node (a node's boot files need
its key agent's settings) and listing its nodes without readers. Each backend grants its node's identity (IAM
role, service account, Kubernetes ServiceAccount) once it has created it, and makes the node's compute wait for
that grant.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi

from components.backends.base import NodeBackend, NodeContext, NodeInputs, ServiceImages, TmKeyAccess, lift
from components.backends.kubernetes import KubernetesBackend, KubernetesClusters
from components.lacchain_node import LacchainNode, LacchainNodeArgs
from lacchain import kubernetes as manifests
from lacchain.besu.releases import besu_release
from lacchain.enode import Enode
from lacchain.errors import InvalidInput
from lacchain.keys import NodeKey
from lacchain.network_plan import MemberPlan, NodeIdentity, genesis_text, plan_member
from lacchain.roles import Platform, Role, TransactionManager
from lacchain.stack_config import CONFIG_NAMESPACE, MemberStack, NodeConfig, parse_member_stack

if TYPE_CHECKING:  # imported when a member has writers with a transaction manager: it loads both cloud SDKs
    from components.ddns_zone import DdnsZone
    from components.orion_key_vault import OrionKeyVault

TYPE = "lacchain:index:Member"
PLACEHOLDER_IP = "192.0.2.1"
"""TEST-NET-1 address used only for the dry render that validates files before any resource exists."""
PLACEHOLDER_DDNS_URL = "https://ddns.placeholder.invalid"
DDNS_URL_KEY = "-ddns-url"
"""Key of the DDNS URL among the resolved node addresses (no node name starts with '-')."""


def node_keys_of(stack: MemberStack) -> dict[str, NodeKey]:
    """Each node's key: from ``nodeKeys`` (secret config) or, on development networks, derived from
    ``devKeySeed``. Refuses a stack where some node has neither, naming the nodes and the fix."""
    keys: dict[str, NodeKey] = {}
    missing: list[str] = []
    for node in stack.nodes:
        if node.name in stack.node_keys:
            keys[node.name] = NodeKey.from_hex(stack.node_keys[node.name])
        elif stack.dev_key_seed is not None:
            keys[node.name] = NodeKey.derive_dev_key(stack.dev_key_seed, node.name)
        else:
            missing.append(node.name)
    if missing:
        raise InvalidInput.single(
            f"{CONFIG_NAMESPACE}:nodeKeys",
            f"no key for {', '.join(missing)}",
            "create one per node with `lacchain keys new --out keys/<node>` and set it as a secret: "
            f"pulumi config set --secret --path '{CONFIG_NAMESPACE}:nodeKeys.<node>' \"$(cat keys/<node>/key)\"",
        )
    return keys


def known_host(member: str, node: NodeConfig) -> str | None:
    """The host of a node's enode when the stack alone determines it: its ``dnsName``, or on Kubernetes its p2p
    Service's cluster DNS name (what ``KubernetesBackend.reserve_address`` returns). None when a cloud assigns it
    (an Elastic IP, a static address); the member program checks the backends agree before reusing a plan."""
    if node.dns_name is not None and (node.platform is Platform.KUBERNETES or not node.static_address):
        return node.dns_name
    if node.platform is Platform.KUBERNETES:
        assert node.placement.namespace is not None  # the stack schema requires it on Kubernetes
        return manifests.p2p_host(member, node.name, node.placement.namespace)
    return None


def default_images(node: NodeConfig, registry: str | None) -> ServiceImages:
    """Official images pinned to the node's Besu release, ours from their public names; or, when the member has a
    registry, every image from it, named as ``ServiceImageBuild`` pushes them."""
    if registry is None:
        return ServiceImages(besu=besu_release(node.besu_version).image)
    from components.service_images import registry_images

    return registry_images(registry, node.besu_version)


def build_images(stack: MemberStack, parent: pulumi.Resource) -> tuple[pulumi.Resource, ...]:
    """With ``registry.build``: build and push the node images to the member's registry (the shared images once,
    Besu once per release the nodes run). Nodes wait for the pushes before pulling."""
    if stack.registry is None or not stack.registry.build:
        return ()
    from components.service_images import IMAGES, ServiceImageBuild, ServiceImageBuildArgs

    shared = [image for image in IMAGES if image != "besu"]
    builds = [
        ServiceImageBuild(
            f"{stack.member}-images",
            ServiceImageBuildArgs(registry_url=stack.registry.url, images=shared),
            pulumi.ResourceOptions(parent=parent),
        )
    ]
    builds += [
        ServiceImageBuild(
            f"{stack.member}-images-besu-{version}",
            ServiceImageBuildArgs(registry_url=stack.registry.url, besu_version=version, images=["besu"]),
            pulumi.ResourceOptions(parent=parent),
        )
        for version in sorted({node.besu_version for node in stack.nodes})
    ]
    return tuple(builds)


def permissioning_alloc(admins: Sequence[str], enodes: Sequence[Enode]) -> Mapping[str, Mapping[str, Any]]:
    """The v2 node permissioning contracts (``contracts/``) in a generated genesis, listing the member's nodes."""
    from contracts.genesis_alloc import node_permissioning_alloc

    return node_permissioning_alloc(admins, enodes)


VaultKey = tuple[Platform, str | None, str | None]
"""(platform, AWS region / GCP project / Kubernetes context, GCP region / Kubernetes namespace / None)."""


def vault_key(node: NodeConfig) -> VaultKey:
    """Which key vault keeps a writer's TM keys: its region (AWS), project and region (GCP), or cluster context and
    namespace (Kubernetes: the Secrets and the Roles that guard them are namespaced)."""
    placement = node.placement
    if node.platform is Platform.AWS:
        return (node.platform, placement.region, None)
    if node.platform is Platform.GCP:
        return (node.platform, placement.project, placement.region)
    return (node.platform, placement.context or "current", placement.namespace)


def make_backend(platform: Platform, member: str, parent: pulumi.Resource) -> NodeBackend:
    """One backend per platform and member; VM backends keep one provider per region/project under ``parent``."""
    if platform is Platform.KUBERNETES:
        return KubernetesBackend()
    if platform is Platform.AWS:
        from components.backends.aws import AwsBackend

        return AwsBackend(member, parent)
    from components.backends.gcp import GcpBackend

    return GcpBackend(member, parent)


@dataclass(frozen=True)
class LacchainMemberArgs:
    stack: MemberStack
    project_root: Path


class LacchainMember(pulumi.ComponentResource):
    """All of one member's nodes. Outputs: ``nodes`` (per node: enode, role, platform, rpc endpoint),
    ``validators`` (addresses) and ``genesis_sha256``."""

    def __init__(self, name: str, args: LacchainMemberArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        stack = args.stack
        keys = node_keys_of(stack)
        known = {node.name: known_host(stack.member, node) for node in stack.nodes}
        identities_now = {n: NodeIdentity(k.node_id, known[n] or PLACEHOLDER_IP) for n, k in keys.items()}
        genesis = genesis_text(stack, identities_now, args.project_root, permissioning_alloc)
        # Dry render: every file error surfaces before any resource, and it names the files each node gets. When
        # every host is known from the stack alone (Kubernetes Services, DNS names), it is also the final plan.
        # A DDNS function created here has its URL only once deployed; the dry render needs just the file names.
        dry_url = PLACEHOLDER_DDNS_URL if stack.network.ddns is not None else None
        dry = plan_member(stack, identities_now, genesis, dry_url)
        super().__init__(TYPE, name, None, opts)

        clusters = KubernetesClusters(stack.member, self)
        backends: dict[Platform, NodeBackend] = {}
        prerequisites: dict[str, tuple[pulumi.Resource, ...]] = {}
        for node in stack.nodes:
            if node.platform is Platform.KUBERNETES:
                placement = node.placement
                assert placement.namespace is not None
                created = clusters.namespace(
                    placement.context, placement.namespace, placement.create_namespace is not False
                )
                if created is not None:
                    prerequisites[node.name] = (created,)
            if node.platform not in backends:
                backends[node.platform] = make_backend(node.platform, stack.member, self)
        vaults = self._key_vaults(stack, backends, clusters)
        images_built = build_images(stack, self)
        self.ddns = self._ddns_zone(stack, keys, args.project_root, clusters)
        ddns = stack.network.ddns
        ddns_url: pulumi.Input[str] | None = (
            self.ddns.update_url if self.ddns is not None else (ddns.url if ddns else None)
        )
        nodes: dict[str, LacchainNode] = {}
        for node in stack.nodes:
            provider = clusters.provider(node.placement.context) if node.platform is Platform.KUBERNETES else None
            registry = stack.registry.url if stack.registry else None
            vault = vaults.get(vault_key(node)) if node.transaction_manager is not TransactionManager.NONE else None
            ctx = NodeContext(
                member=stack.member,
                node=node,
                network=stack.network,
                images=default_images(node, registry),
                provider=provider,
                tags={"lacchain-member": stack.member, "lacchain-node": node.name, **stack.tags},
                tm_keys=TmKeyAccess(vault, node.name) if vault is not None else None,
                rpc_tls=stack.rpc_tls_of(node),
                ddns_url=ddns_url,
                prerequisites=(*prerequisites.get(node.name, ()), *images_built),
            )
            nodes[node.name] = LacchainNode(
                f"{stack.member}-{node.name}",
                LacchainNodeArgs(context=ctx, backend=backends[node.platform]),
                pulumi.ResourceOptions(parent=self),
            )

        def render(resolved: dict[str, str]) -> MemberPlan:
            identities = {n: NodeIdentity(keys[n].node_id, resolved[n]) for n in keys}
            genesis = genesis_text(stack, identities, args.project_root, permissioning_alloc)
            return plan_member(stack, identities, genesis, resolved.get(DDNS_URL_KEY))

        tm = {n.name for n in stack.nodes if n.transaction_manager is not TransactionManager.NONE}
        addresses: dict[str, pulumi.Input[str]] = {name: n.p2p_host for name, n in nodes.items()}
        if ddns_url is not None:
            addresses[DDNS_URL_KEY] = ddns_url
        plans: pulumi.Input[MemberPlan]
        if all(isinstance(a, str) for a in addresses.values()):
            resolved = {name: str(a) for name, a in addresses.items()}
            final = dry_url is None and all(known[name] == resolved[name] for name in nodes)
            plans = dry if final else render(resolved)
        else:
            plans = pulumi.Output.all(**addresses).apply(render)
        for node in stack.nodes:
            name = node.name
            nodes[name].deploy(
                NodeInputs(
                    name=name,
                    plan=plans,
                    node_key=pulumi.Output.secret(keys[name].hex),
                    own_file_names=tuple(sorted(dry[name].files)),
                    shared_file_names=tuple(sorted(dry.shared)),
                ),
                enode=lift(plans, lambda p, name=name: p[name].enode),  # type: ignore[misc]
            )
        self._kubernetes_role_objects(stack, clusters)
        for context, namespace in sorted(
            {(n.placement.context, n.placement.namespace) for n in stack.nodes if n.platform is Platform.KUBERNETES},
            key=str,
        ):
            assert namespace is not None
            clusters.shared_files(context, namespace, lift(plans, lambda p: dict(p.shared)))

        self.nodes = pulumi.Output.all(
            **{
                name: pulumi.Output.all(
                    enode=n.enode,
                    role=node_cfg.role.value,
                    platform=node_cfg.platform.value,
                    rpc_endpoint=n.rpc_endpoint,
                    # Where the writer's TM keys are kept (an ARN or a secret's name): a reference, not a secret.
                    **({"tm_key_secret": vaults[vault_key(node_cfg)].nodes[name].secret_ref} if name in tm else {}),
                )
                for (name, n), node_cfg in zip(nodes.items(), stack.nodes, strict=True)
            }
        )
        self.validators = sorted(keys[n.name].address for n in stack.nodes if n.role is Role.VALIDATOR)
        self.key_vaults = vaults
        self.register_outputs({"nodes": self.nodes, "validators": self.validators})

    def _key_vaults(
        self, stack: MemberStack, backends: Mapping[Platform, NodeBackend], clusters: KubernetesClusters
    ) -> dict[VaultKey, OrionKeyVault]:
        """One OrionKeyVault per place writers with a transaction manager run, on that place's provider, listing
        its writers without readers (their identities do not exist yet; the backends grant them)."""
        groups: dict[VaultKey, list[NodeConfig]] = {}
        for node in stack.nodes:
            if node.transaction_manager is not TransactionManager.NONE:
                groups.setdefault(vault_key(node), []).append(node)
        if not groups:
            return {}
        from components.orion_key_vault import KeyVaultNode, OrionKeyVault, OrionKeyVaultArgs

        vaults: dict[VaultKey, OrionKeyVault] = {}
        for key, writers in sorted(groups.items(), key=lambda kv: str(kv[0])):
            platform, first, second = key
            depends: list[pulumi.Resource] = []
            listed = [KeyVaultNode(n.name, n.transaction_manager) for n in writers]
            tags = {"lacchain-member": stack.member, **stack.tags}
            provider: pulumi.ProviderResource
            backend = backends[platform]
            if platform is Platform.AWS:
                from components.backends.aws import AwsBackend

                assert isinstance(backend, AwsBackend) and first is not None
                args = OrionKeyVaultArgs(stack.member, platform, listed, aws_region=first, tags=tags)
                provider = backend.provider(first)
            elif platform is Platform.GCP:
                from components.backends.gcp import GcpBackend

                assert isinstance(backend, GcpBackend) and first is not None and second is not None
                args = OrionKeyVaultArgs(stack.member, platform, listed, gcp_project=first, gcp_region=second)
                provider = backend.provider(first, second)
            else:
                context = writers[0].placement.context
                args = OrionKeyVaultArgs(stack.member, platform, listed, kubernetes_namespace=second)
                provider = clusters.provider(context)
                created = clusters.namespace(context, str(second), create=False)
                depends = [created] if created is not None else []  # the vault's RBAC objects live in it
            name = "-".join([stack.member, "tm-keys", *(part for part in (first, second) if part)])
            vaults[key] = OrionKeyVault(
                name, args, pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends)
            )
        return vaults

    def _ddns_zone(
        self, stack: MemberStack, keys: Mapping[str, NodeKey], project_root: Path, clusters: KubernetesClusters
    ) -> DdnsZone | None:
        """The network's DDNS zone and update function, when this stack operates it (``network.ddns.platform``).
        Its member list is this stack's nodes plus ``otherMembersFile``; the CA, tree and TSIG keys come from the
        stack's secret config (``ddnsCa``, ``ddnsTreeKey``, ``ddnsTsigSecret``) as Pulumi secrets."""
        ddns = stack.network.ddns
        if ddns is None or ddns.platform is None:
            return None
        from components.ddns_zone import (
            DdnsPlatform,
            DdnsSettings,
            DdnsZone,
            DdnsZoneArgs,
            OnPremDns,
            OnPremKubernetes,
        )

        document = ddns_members_document(stack, keys, project_root)
        onprem_dns = kubernetes = None
        provider: pulumi.ProviderResource | None = None
        if ddns.onprem is not None:
            if stack.ddns_tsig_secret is None:
                raise InvalidInput.single(
                    f"{CONFIG_NAMESPACE}:ddnsTsigSecret",
                    "required with network.ddns.platform onprem",
                    f"pulumi config set --secret {CONFIG_NAMESPACE}:ddnsTsigSecret <base64 key from tsig-keygen>",
                )
            onprem = ddns.onprem
            onprem_dns = OnPremDns(
                onprem.server,
                onprem.key_name,
                pulumi.Output.secret(stack.ddns_tsig_secret),
                onprem.algorithm,
                onprem.server_zone,
                tuple(onprem.name_servers),
            )
            if onprem.kubernetes is not None:
                kubernetes = OnPremKubernetes(
                    onprem.kubernetes.image, onprem.kubernetes.namespace, onprem.kubernetes.storage_class
                )
                provider = clusters.provider(onprem.kubernetes.context)
        args = DdnsZoneArgs(
            network=ddns.network,
            zone=ddns.zone,
            platform=DdnsPlatform(ddns.platform),
            members=document,
            settings=DdnsSettings(
                window_seconds=ddns.window_seconds, allowed_private_cidrs=tuple(ddns.allowed_private_cidrs)
            ),
            existing_zone_id=ddns.existing_zone_id,
            aws_region=ddns.region if ddns.platform == "aws" else None,
            gcp_project=ddns.project,
            gcp_region=ddns.region if ddns.platform == "gcp" else None,
            onprem_dns=onprem_dns,
            kubernetes=kubernetes,
            update_url=ddns.onprem.url if ddns.onprem is not None else None,
            tree_key=pulumi.Output.secret(stack.ddns_tree_key) if stack.ddns_tree_key else None,
            ca=pulumi.Output.secret(stack.ddns_ca) if stack.ddns_ca else None,
            lambda_layers=tuple(ddns.lambda_layers),
            project_root=project_root,
            tags={"lacchain-member": stack.member, **stack.tags},
        )
        return DdnsZone(f"{stack.member}-ddns", args, pulumi.ResourceOptions(parent=self, provider=provider))

    @staticmethod
    def _kubernetes_role_objects(stack: MemberStack, clusters: KubernetesClusters) -> None:
        groups: dict[tuple[str | None, str, Role], list[NodeConfig]] = {}
        for node in stack.nodes:
            if node.platform is Platform.KUBERNETES and node.placement.namespace is not None:
                groups.setdefault((node.placement.context, node.placement.namespace, node.role), []).append(node)
        external_peers = _external_peer_cidrs(stack)
        for (context, namespace, role), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
            clusters.role_objects(
                context,
                manifests.RolePolicy(
                    member=stack.member,
                    namespace=namespace,
                    role=role,
                    p2p_port=members[0].p2p_port,
                    # Boots are the network's entry point: every LACChain node may connect to them.
                    external_p2p_cidrs=["0.0.0.0/0"] if role is Role.BOOT else external_peers,
                    rpc_cidrs=sorted({c for m in members for c in m.rpc_allowed_cidrs}),
                    has_tm=any(m.transaction_manager is not TransactionManager.NONE for m in members),
                ),
            )


def _external_peer_cidrs(stack: MemberStack) -> list[str]:
    """Host routes of the other members' nodes we know by IP (bootnodes and the local allowlist)."""
    cidrs = set()
    for url in [*stack.network.bootnodes, *stack.network.allowlist]:
        enode = Enode.parse(url)
        if enode.host_kind == "ipv4":
            cidrs.add(f"{enode.host}/32")
        elif enode.host_kind == "ipv6":
            cidrs.add(f"{enode.host}/128")
    return sorted(cidrs)


def ddns_members_document(stack: MemberStack, keys: Mapping[str, NodeKey], project_root: Path) -> dict[str, Any]:
    """The DDNS function's member list: ``otherMembersFile`` (other members' nodes) plus this stack's nodes."""
    ddns = stack.network.ddns
    assert ddns is not None
    nodes: list[dict[str, Any]] = []
    if ddns.other_members_file is not None:
        path = project_root / ddns.other_members_file
        try:
            other = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput.single(
                f"{CONFIG_NAMESPACE}:network.ddns.otherMembersFile", f"{path} cannot be read as JSON ({exc})"
            ) from None
        nodes.extend(other.get("nodes", []) if isinstance(other, dict) else [])
    nodes.extend(
        {
            "nodeId": keys[node.name].node_id,
            "name": node.name,
            "role": node.role.value,
            "transactionManager": node.transaction_manager is not TransactionManager.NONE,
        }
        for node in stack.nodes
    )
    return {"network": ddns.network, "nodes": nodes}


def deploy_member(stack: MemberStack, project_root: Path) -> LacchainMember:
    """Declare the member's resources and export what other stacks and operators consume."""
    member = LacchainMember(stack.member, LacchainMemberArgs(stack=stack, project_root=project_root))
    pulumi.export("member", stack.member)
    pulumi.export("nodes", member.nodes)
    pulumi.export("validators", member.validators)
    if member.ddns is not None:
        pulumi.export(
            "ddns",
            {
                "updateUrl": member.ddns.update_url,
                "zoneName": member.ddns.zone_name,
                "nameServers": member.ddns.name_servers,
                "enrTreeDomain": member.ddns.enr_tree_domain,
                "enrTreeUrl": member.ddns.enr_tree_url,
            },
        )
    return member


def stack_config_document() -> dict[str, Any]:
    """Every ``lacchain-cloud:`` key of this stack's configuration, as the schema reads it.

    All keys are read, not only the ones the schema knows, so a misspelt key is refused instead of ignored.
    Pulumi hands object values to programs JSON-encoded and plain strings as they are.
    """
    prefix = f"{CONFIG_NAMESPACE}:"
    raw = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    document: dict[str, Any] = {}
    for full_key, value in raw.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key.removeprefix(prefix)
        if isinstance(value, str) and value[:1] in ("{", "["):
            # An unparsable value stays a string, and the schema reports the field with its bad value.
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        document[key] = value
    return document


def member_program(project_root: Path) -> LacchainMember:
    """The whole Pulumi program of a member stack: what ``__main__.py`` runs and ``lacchain synth`` replays."""
    try:
        stack = parse_member_stack(stack_config_document(), source=f"stack {pulumi.get_stack()}")
        return deploy_member(stack, project_root)
    except InvalidInput as exc:
        # A clean message instead of a traceback: the user has a stack file to fix, not a bug to report.
        raise pulumi.RunError(str(exc)) from None
