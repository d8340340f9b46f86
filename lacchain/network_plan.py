"""Everything a member's nodes need on disk, computed from the validated stack and each node's identity.

This is the single place where a stack becomes files: the Pulumi components, ``lacchain synth`` and the BaaS
controller all call ``plan_member`` and only differ in where the files go (ConfigMaps, cloud-init, a directory).
It is pure: node identities (public node ids and the host each node is reached at) come in as values, so it runs
in milliseconds and is tested without any cloud.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import tomli_w

from lacchain import genesis as genesis_lib
from lacchain import layout
from lacchain.besu.config import (
    BesuNodeSettings,
    Permissioning,
    render_config_toml,
    render_permissions_config,
    render_static_nodes,
)
from lacchain.besu.releases import besu_release
from lacchain.enode import Enode
from lacchain.errors import InvalidInput
from lacchain.keys import address_of_node_id
from lacchain.nginx import NginxRpcProxy, listen_port, render_nginx_conf
from lacchain.presets import NetworkPreset, preset
from lacchain.roles import Platform, Role, TransactionManager
from lacchain.stack_config import CONFIG_NAMESPACE, MemberStack, NodeConfig, PermissioningMode
from lacchain.tm.config import TmSettings, node_url, render_orion_config, render_tessera_config
from lacchain.tm.paths import ORION_TEMPLATE, TESSERA_TEMPLATE
from lacchain.topology import MAX_BOOTS_DIALLED, select_dialled, spread

CONFIG_TOML = "config.toml"
GENESIS_JSON = "genesis.json"
STATIC_NODES_JSON = "static-nodes.json"
PERMISSIONS_TOML = "permissions_config.toml"
ORION_CONF = ORION_TEMPLATE
TESSERA_JSON = TESSERA_TEMPLATE
NGINX_CONF = "nginx.conf"
"""nginx's configuration, an own file of every node that serves RPC (every role but validators)."""


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node is (its public node id) and where peers reach it."""

    node_id: str
    host: str


@dataclass(frozen=True)
class NodePlan:
    """One node's own rendered, non-secret files (paths relative to ``layout.CONFIG_DIR``) and public facts."""

    node: NodeConfig
    enode: str
    address: str
    peers: tuple[str, ...]
    """Names of this member's nodes it keeps static connections to."""
    files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberPlan:
    """Every node's files. ``shared`` files are the same on every node (the genesis, the local allowlist): a
    platform may store them once (one Kubernetes ConfigMap per namespace) instead of once per node."""

    nodes: Mapping[str, NodePlan]
    shared: Mapping[str, str]

    def files_of(self, name: str) -> dict[str, str]:
        """Everything node ``name`` needs on disk: the shared files and its own."""
        return {**self.shared, **self.nodes[name].files}

    def __getitem__(self, name: str) -> NodePlan:
        return self.nodes[name]


MAX_TM_PEERS = 8
"""Transaction managers a writer is told about; Orion and Tessera discover the rest through their peers'
party info."""


def enode_of(node: NodeConfig, identity: NodeIdentity) -> Enode:
    return Enode.of(identity.node_id, identity.host, node.p2p_port)


PermissioningAlloc = Callable[[Sequence[str], Sequence[Enode]], Mapping[str, Mapping[str, Any]]]
"""Builds genesis ``alloc`` entries for the node permissioning contracts from (admins, initial enodes)."""


def genesis_text(
    stack: MemberStack,
    identities: Mapping[str, NodeIdentity],
    project_root: Path,
    permissioning_alloc: PermissioningAlloc | None = None,
) -> str:
    """The network's genesis file: the published file for a network we join (checked against its preset),
    or a generated one (validators = this member's validators plus ``extraValidators``; with onchain
    permissioning, the contracts from ``permissioning_alloc`` listing every node of the member)."""
    network = stack.network
    chosen = preset(network.preset)
    if network.genesis_file is not None:
        path = project_root / network.genesis_file
        field_name = f"{CONFIG_NAMESPACE}:network.genesisFile"
        try:
            # Bytes, decoded without newline translation: the published file is the genesis block, byte for byte.
            text = path.read_bytes().decode("utf-8")
            document = json.loads(text)
        except FileNotFoundError:
            raise InvalidInput.single(
                field_name, f"{path} does not exist", "download the network's published genesis.json to that path"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput.single(field_name, f"{path} is not JSON ({exc})", "use the published file") from None
        problems = genesis_lib.check_published_genesis(chosen, document)
        if problems:
            raise InvalidInput.single(
                field_name,
                f"{path} does not match {chosen.name.value}: " + "; ".join(problems),
                "use the genesis file published for this network",
            )
        return text
    validators = sorted(
        {address_of_node_id(identities[n.name].node_id) for n in stack.nodes if n.role is Role.VALIDATOR}
        | set(network.extra_validators),
        key=str.lower,
    )
    alloc: Mapping[str, Mapping[str, Any]] = {}
    if network.permissioning_mode is PermissioningMode.ONCHAIN:
        if permissioning_alloc is None:
            raise InvalidInput.single(
                f"{CONFIG_NAMESPACE}:network.permissioning.mode",
                "onchain permissioning in a generated genesis needs the permissioning contracts",
                "use mode: local, or deploy through the member program (it places the contracts)",
            )
        enodes = [enode_of(n, identities[n.name]) for n in stack.nodes]
        alloc = permissioning_alloc(network.permissioning.admins, enodes)
    spec = genesis_lib.GenesisSpec(chain_id=_chain_id(stack), validators=tuple(validators), alloc=alloc)
    return genesis_lib.render_genesis(genesis_lib.build_genesis(_network_preset(stack), spec))


def _network_preset(stack: MemberStack) -> NetworkPreset:
    """The preset with the stack's overrides of consensus parameters applied."""
    network = stack.network
    base = preset(network.preset)
    return replace(
        base,
        consensus=network.consensus or base.consensus,
        block_period_seconds=network.block_period_seconds or base.block_period_seconds,
        epoch_length=network.epoch_length or base.epoch_length,
        request_timeout_seconds=network.request_timeout_seconds or base.request_timeout_seconds,
    )


def _chain_id(stack: MemberStack) -> int:
    chain_id = stack.network.chain_id or preset(stack.network.preset).chain_id
    if chain_id is None:
        raise InvalidInput.single(f"{CONFIG_NAMESPACE}:network.chainId", "required for a generated genesis")
    return chain_id


ECHO_ADDRESS_SOURCES = ("https://checkip.amazonaws.com", "https://api.ipify.org", "https://icanhazip.com")
"""Where a VM's DDNS daemon learns its public address: three independent services, a majority must agree. (The
VM's containers are cut off from the instance metadata service, so metadata is not a source there.)"""


def runs_ddns_daemon(stack: MemberStack, node: NodeConfig) -> bool:
    """A VM node named in the network's DDNS zone keeps its name current itself. (On Kubernetes the node's name
    follows its LoadBalancer through external-dns; a pod's egress address is not its public address.)"""
    return (
        stack.network.ddns is not None and node.dns_name is not None and node.platform in (Platform.AWS, Platform.GCP)
    )


def render_ddns_daemon_config(stack: MemberStack, node: NodeConfig, url: str) -> str:
    """The daemon's configuration (``services/ddns_daemon``): no secret in it, the node key is read from the tmpfs."""
    ddns = stack.network.ddns
    assert ddns is not None
    sync: dict[str, Any] = {
        "static_nodes_file": f"{layout.CONFIG_DIR}/{STATIC_NODES_JSON}",
        "besu_config_file": f"{layout.CONFIG_DIR}/{CONFIG_TOML}",
        "extra_boot_nodes": sorted(stack.network.bootnodes),
    }
    if stack.network.permissioning_mode is PermissioningMode.LOCAL:
        sync["allowlist_file"] = f"{layout.CONFIG_DIR}/{PERMISSIONS_TOML}"
    document = {
        "network": ddns.network,
        "node_key_file": layout.NODE_KEY_FILE,
        "state_dir": layout.DDNS_STATE_DIR,
        "role": node.role.value,
        "function": {"url": url},
        "ip": {
            "port": node.p2p_port,
            "allowed_private_cidrs": list(ddns.allowed_private_cidrs),
            "sources": [{"kind": "echo", "url": u} for u in ECHO_ADDRESS_SOURCES],
        },
        "sync": sync,
        "besu": {"rpc_url": f"ws://127.0.0.1:{layout.RPC_WS_PORT}"},
        "metrics": {"address": "127.0.0.1", "port": layout.DDNS_METRICS_PORT},
    }
    return "# DDNS daemon of this node. Generated by lacchain-cloud; do not edit.\n" + tomli_w.dumps(document)


def plan_member(
    stack: MemberStack, identities: Mapping[str, NodeIdentity], genesis: str, ddns_url: str | None = None
) -> MemberPlan:
    """Render every node's files. ``identities`` must hold every node of the stack; ``ddns_url`` is the network's
    DDNS update function (VM nodes named in its zone run the daemon)."""
    missing = [n.name for n in stack.nodes if n.name not in identities]
    if missing:
        raise InvalidInput.single(
            f"{CONFIG_NAMESPACE}:nodeKeys", f"no key for {', '.join(missing)}", "run `lacchain keys new` for them"
        )
    chosen = _network_preset(stack)
    network = stack.network
    enodes = {n.name: enode_of(n, identities[n.name]) for n in stack.nodes}
    urls = {name: e.url for name, e in enodes.items()}
    named_dns = {name for name, e in enodes.items() if e.host_kind == "dns"}
    external_dns = any(Enode.parse(u).host_kind == "dns" for u in [*network.bootnodes, *network.allowlist])
    roster = [(n.name, n.role) for n in stack.nodes]
    own_boots = [n.name for n in stack.nodes if n.role is Role.BOOT]
    mode = network.permissioning_mode
    permissioning = Permissioning(
        mode=mode.value,
        contract_version=network.permissioning.contract_version,
        nodes_contract=network.permissioning.nodes_contract,
        accounts_contract=network.permissioning.accounts_contract,
        accounts=network.accounts_permissioning,
    )
    shared = {GENESIS_JSON: genesis}
    if mode is PermissioningMode.LOCAL:
        allowlist = sorted(set(urls.values()) | set(network.bootnodes) | set(network.allowlist))
        shared[PERMISSIONS_TOML] = render_permissions_config(allowlist)
    tm_writers = [n.name for n in stack.nodes if n.transaction_manager is not TransactionManager.NONE]

    plans: dict[str, NodePlan] = {}
    for node in stack.nodes:
        dialled = select_dialled(node.role, roster, node.name)
        boots = spread([b for b in own_boots if b != node.name], node.name, MAX_BOOTS_DIALLED)
        bootnodes = sorted(set(network.bootnodes) | {urls[b] for b in boots})
        dns_hosts = (
            external_dns
            or node.name in named_dns
            or any(p in named_dns for p in dialled + boots)
            or (mode is PermissioningMode.LOCAL and bool(named_dns))
        )
        host = identities[node.name].host
        settings = BesuNodeSettings(
            role=node.role,
            release=besu_release(node.besu_version),
            consensus=chosen.consensus,
            p2p_port=node.p2p_port,
            advertised_ip=host if node.name not in named_dns else None,
            bootnodes=bootnodes,
            privacy=node.transaction_manager is not TransactionManager.NONE,
            permissioning=permissioning,
            dns_hosts=dns_hosts,
            on_kubernetes=node.platform is Platform.KUBERNETES,
            metrics_push_host=network.metrics_push_host,
            metrics_job=f"{stack.member}-{node.name}",
            discovery_dns_url=network.discovery_dns_url,
        )
        files = {
            CONFIG_TOML: render_config_toml(settings),
            STATIC_NODES_JSON: render_static_nodes([urls[p] for p in dialled]),
        }
        if node.role is not Role.VALIDATOR:
            files[NGINX_CONF] = nginx_conf(tuple(node.rpc_allowed_cidrs), node.platform)
        if ddns_url is not None and runs_ddns_daemon(stack, node):
            files[layout.DDNS_DAEMON_CONFIG] = render_ddns_daemon_config(stack, node, ddns_url)
        if node.transaction_manager is not TransactionManager.NONE:
            others = spread([w for w in tm_writers if w != node.name], node.name, MAX_TM_PEERS)
            tm = TmSettings(advertised_host=host, peers=[node_url(identities[w].host) for w in others])
            if node.transaction_manager is TransactionManager.ORION:
                files[ORION_CONF] = render_orion_config(tm)
            else:
                files[TESSERA_JSON] = render_tessera_config(tm)
        plans[node.name] = NodePlan(
            node=node,
            enode=urls[node.name],
            address=address_of_node_id(identities[node.name].node_id),
            peers=tuple(dialled),
            files=files,
        )
    return MemberPlan(nodes=plans, shared=shared)


@lru_cache(maxsize=256)
def nginx_conf(allowed_cidrs: tuple[str, ...], platform: Platform) -> str:
    """The node's nginx.conf: its own client networks, and the port its platform lets nginx bind
    (``lacchain.nginx.listen_port``). Cached: the nodes of a member mostly share both."""
    return render_nginx_conf(NginxRpcProxy(allowed_cidrs=allowed_cidrs, listen_port=listen_port(platform)))


def validator_count(stack: MemberStack) -> int:
    return sum(1 for n in stack.nodes if n.role is Role.VALIDATOR)


def bft_fault_tolerance(validators: int) -> int:
    """How many validators may fail while an IBFT 2.0 / QBFT network still makes blocks: f = (n - 1) // 3."""
    return max(0, (validators - 1) // 3)


def roles_in(nodes: Sequence[NodeConfig]) -> set[Role]:
    return {n.role for n in nodes}
