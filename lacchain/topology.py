"""Who peers with whom in a LACChain network, by role.

LACChain's topology (from its node deployment repositories): validators reach consensus among themselves and
talk only to validators and boots; boots relay between validators and everyone else; writers broadcast
transactions through boots and reach other writers for private transactions; observers only read, through boots.

Two relations come out of it:

- ``PEERS`` (symmetric): whose connections a node *accepts*. It drives the Kubernetes NetworkPolicies, the cloud
  firewalls and the DDNS daemon, so the three never disagree.
- ``DIALS`` (directed): whom a node keeps a connection *to* (Besu's static nodes). Validators keep the full
  validator mesh (consensus latency) plus boots; everyone else only dials boots, and Besu's discovery finds the
  rest. Dialling a bounded set instead of every allowed peer keeps each node's files O(1) in the size of the
  network, where "everyone lists everyone" would be O(N) per node and O(N^2) in total.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from lacchain.roles import Role

PEERS: dict[Role, frozenset[Role]] = {
    Role.VALIDATOR: frozenset({Role.VALIDATOR, Role.BOOT}),
    Role.BOOT: frozenset({Role.VALIDATOR, Role.BOOT, Role.WRITER, Role.OBSERVER}),
    Role.WRITER: frozenset({Role.BOOT, Role.WRITER}),
    Role.OBSERVER: frozenset({Role.BOOT}),
}

DIALS: dict[Role, frozenset[Role]] = {
    Role.VALIDATOR: frozenset({Role.VALIDATOR, Role.BOOT}),
    Role.BOOT: frozenset({Role.BOOT}),
    Role.WRITER: frozenset({Role.BOOT}),
    Role.OBSERVER: frozenset({Role.BOOT}),
}

MAX_BOOTS_DIALLED = 4
"""Boot nodes a node keeps static connections to (and lists as bootnodes); discovery finds the others."""

FULL_MESH_VALIDATORS = 25
"""Up to this many validators, every validator dials every other (the usual BFT deployment)."""
RING_SUCCESSORS = 12
"""Beyond a full mesh: each validator dials its next validators in name order (a ring, so the validator graph
is connected by construction) ..."""
RING_CHORDS = 12
"""... and as many chords spread over the rest, which keeps the graph's diameter small."""


def peers_with(a: Role, b: Role) -> bool:
    """Whether nodes of roles ``a`` and ``b`` may connect. Symmetric by construction (checked in tests)."""
    return b in PEERS[a]


def accepts_p2p_from(role: Role) -> frozenset[Role]:
    """The roles whose p2p connections a node of ``role`` accepts (firewalls, NetworkPolicies)."""
    return PEERS[role]


def select_peers(role: Role, nodes: Sequence[tuple[str, Role]], exclude: str | None = None) -> list[str]:
    """Names of the nodes in ``nodes`` (name, role) that a node of ``role`` may connect with, in the given order,
    without ``exclude`` (the node itself)."""
    return [name for name, other in nodes if name != exclude and peers_with(role, other)]


def spread(candidates: Sequence[str], chooser: str, limit: int) -> list[str]:
    """Up to ``limit`` of ``candidates`` (kept in their order), starting at a position derived from ``chooser``:
    deterministic for a node, yet different nodes start at different places, so load spreads over all boots."""
    if len(candidates) <= limit:
        return list(candidates)
    start = int(hashlib.sha256(chooser.encode()).hexdigest(), 16) % len(candidates)
    return [candidates[(start + i) % len(candidates)] for i in range(limit)]


def validator_mesh(validators: Sequence[str], name: str) -> list[str]:
    """The validators validator ``name`` dials: all of them in a network of up to ``FULL_MESH_VALIDATORS``,
    otherwise its ring successors plus spread chords."""
    ring = sorted(validators)
    others = [v for v in ring if v != name]
    if len(ring) <= FULL_MESH_VALIDATORS:
        return others
    position = ring.index(name)
    successors = [ring[(position + i) % len(ring)] for i in range(1, RING_SUCCESSORS + 1)]
    rest = [v for v in others if v not in set(successors)]
    return successors + spread(rest, name, RING_CHORDS)


def select_dialled(role: Role, nodes: Sequence[tuple[str, Role]], name: str) -> list[str]:
    """The nodes ``name`` (of ``role``) keeps static connections to: the validator mesh for a validator, and up
    to ``MAX_BOOTS_DIALLED`` boots for everyone."""
    others = [(n, r) for n, r in nodes if n != name]
    boots = spread([n for n, r in others if r is Role.BOOT], name, MAX_BOOTS_DIALLED)
    if role is not Role.VALIDATOR:
        return sorted(boots)
    validators = [n for n, r in nodes if r is Role.VALIDATOR]
    return sorted(validator_mesh(validators, name) + boots)
