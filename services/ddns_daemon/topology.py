"""The peer lists Besu gets from the node table, by the project's one topology (``lacchain.topology``).

Two rules, the same ones the member program, the firewalls and the NetworkPolicies use:

* who may connect (the local allowlist): every node whose role ``peers_with`` this node's role (symmetric:
  validators with validators and boots, boots with everyone, writers with boots and writers, observers with
  boots);
* whom this node keeps a connection to (static nodes, changed live with ``admin_addPeer``): ``select_dialled``,
  i.e. a validator keeps the validator mesh (all validators up to ``FULL_MESH_VALIDATORS``, a ring with chords
  beyond) plus at most ``MAX_BOOTS_DIALLED`` boots, everyone else only that bounded set of boots; Besu's
  discovery finds the other allowed peers. ``bootnodes`` are the dialled boots.

So a node's files stay O(1) in the size of the network instead of listing every peer. The dialled boots are
spread by the node's name (the member list's name, the one the table shows), so different nodes pick different
boots while each node's choice is stable across polls. The table is sorted by name while the member program
orders by the stack, so the daemon's first rewrite may pick other boots than the rendered files did; both are
valid choices of the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lacchain.enode import Enode
from lacchain.roles import Role
from lacchain.topology import peers_with, select_dialled
from services.ddns_daemon.table import NodeTable

EXTRA_PREFIX = "enode:"
"""Names the extra boot nodes by their node id in the selection; no table name (a DNS label) has a colon."""
UNLISTED_PREFIX = "self:"
"""The node's own name in the selection while the table does not list it yet."""


@dataclass(frozen=True)
class PeerPlan:
    """What Besu should have for one node, as canonical enode URLs: table nodes in table order (sorted by name),
    then the extra boot nodes in configuration order."""

    static_nodes: tuple[str, ...]
    """The peers this node dials (``select_dialled``): Besu keeps a connection to each static node."""
    bootnodes: tuple[str, ...]
    """The boot nodes among the dialled peers: what Besu discovers from at start."""
    allowlist: tuple[str, ...]
    """Who may connect (local permissioning): every node whose role peers with this node's role."""


def plan_for(table: NodeTable, node_id: str, role: Role, extra_boot_nodes: Sequence[str] = ()) -> PeerPlan:
    """The peer lists of node ``node_id`` with ``role``. ``extra_boot_nodes`` (enode URLs of boot nodes outside
    the table) are boot candidates like the table's boots, unless the table has a row for the same node id."""
    mine = table.find(node_id)
    own_name = mine.name if mine is not None else f"{UNLISTED_PREFIX}{node_id}"
    listed = {node.node_id for node in table.nodes} | {node_id}
    candidates: list[tuple[str, Role, str]] = [
        (node.name, node.role, node.enode.url) for node in table.nodes if node.node_id != node_id
    ]
    for url in extra_boot_nodes:
        enode = Enode.parse(url)
        if enode.node_id not in listed:
            listed.add(enode.node_id)
            candidates.append((f"{EXTRA_PREFIX}{enode.node_id}", Role.BOOT, enode.url))
    roster = [(name, other) for name, other, _ in candidates] + [(own_name, role)]
    dialled = set(select_dialled(role, roster, own_name))
    return PeerPlan(
        static_nodes=tuple(url for name, _, url in candidates if name in dialled),
        bootnodes=tuple(url for name, other, url in candidates if name in dialled and other is Role.BOOT),
        allowlist=tuple(url for _, other, url in candidates if peers_with(role, other)),
    )
