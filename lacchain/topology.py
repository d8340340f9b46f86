"""Who peers with whom in a LACChain network, by role.

LACChain's topology (from its node deployment repositories): validators reach consensus among themselves and
talk only to validators and boots; boots relay between validators and everyone else; writers broadcast
transactions through boots and reach other writers for private transactions; observers only read, through boots.
The same table drives Besu's static nodes, the Kubernetes NetworkPolicies and the cloud firewalls, so the three
can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from lacchain.roles import Role

PEERS: dict[Role, frozenset[Role]] = {
    Role.VALIDATOR: frozenset({Role.VALIDATOR, Role.BOOT}),
    Role.BOOT: frozenset({Role.VALIDATOR, Role.BOOT, Role.WRITER, Role.OBSERVER}),
    Role.WRITER: frozenset({Role.BOOT, Role.WRITER}),
    Role.OBSERVER: frozenset({Role.BOOT}),
}


def peers_with(a: Role, b: Role) -> bool:
    """Whether nodes of roles ``a`` and ``b`` connect. Symmetric by construction (checked in tests)."""
    return b in PEERS[a]


def accepts_p2p_from(role: Role) -> frozenset[Role]:
    """The roles whose p2p connections a node of ``role`` accepts (firewalls, NetworkPolicies)."""
    return PEERS[role]


def select_peers(role: Role, nodes: Sequence[tuple[str, Role]], exclude: str | None = None) -> list[str]:
    """Names of the nodes in ``nodes`` (name, role) that a node of ``role`` peers with, in the given order,
    without ``exclude`` (the node itself)."""
    return [name for name, other in nodes if name != exclude and peers_with(role, other)]
