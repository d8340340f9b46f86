"""Which nodes a LACChain node peers with, by role, and the peer lists Besu gets from that.

LACChain's topology: validators talk only to validators and boots (consensus traffic stays off the public edge);
boots relay between everyone; writers talk to boots and writers; observers to boots. The relation is symmetric,
so a node's allowlist (who may connect to it) is the same set as the peers it dials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lacchain.enode import Enode
from lacchain.stack_config import Role
from services.ddns_daemon.table import NodeTable, TableNode

PEER_ROLES: Mapping[Role, frozenset[Role]] = {
    Role.VALIDATOR: frozenset({Role.VALIDATOR, Role.BOOT}),
    Role.BOOT: frozenset(Role),
    Role.WRITER: frozenset({Role.BOOT, Role.WRITER}),
    Role.OBSERVER: frozenset({Role.BOOT}),
}


def sees(role: Role, other: Role) -> bool:
    """Whether a node of ``role`` peers with a node of ``other``."""
    return other in PEER_ROLES[role]


@dataclass(frozen=True)
class PeerPlan:
    """What Besu should have for one node, as canonical enode URLs in table order (sorted by name)."""

    static_nodes: tuple[str, ...]
    """Every peer: Besu keeps a connection to each static node."""
    bootnodes: tuple[str, ...]
    """The boot nodes among the peers: what Besu discovers from at start."""
    allowlist: tuple[str, ...]
    """Who may connect (local permissioning): the same peers."""


def peers_of(table: NodeTable, node_id: str, role: Role) -> list[TableNode]:
    return [node for node in table.nodes if node.node_id != node_id and sees(role, node.role)]


def plan_for(table: NodeTable, node_id: str, role: Role, extra_boot_nodes: Sequence[str] = ()) -> PeerPlan:
    """The peer lists of node ``node_id`` with ``role``. ``extra_boot_nodes`` (enode URLs of boot nodes outside
    the table) follow the table's boots, unless the table has a row for the same node id."""
    peers = peers_of(table, node_id, role)
    listed = {node.node_id for node in table.nodes} | {node_id}
    extra = [url for url in extra_boot_nodes if Enode.parse(url).node_id not in listed]
    enodes = tuple(peer.enode.url for peer in peers) + tuple(extra)
    boots = tuple(peer.enode.url for peer in peers if peer.role is Role.BOOT) + tuple(extra)
    return PeerPlan(static_nodes=enodes, bootnodes=boots, allowlist=enodes)
