"""Key stores: where a node's key document lives, behind one small interface.

Each store holds exactly one text value per node and offers the three operations the agent and rotation need:

- ``read``: the current value, or ``None`` when none was ever stored;
- ``create``: store a first value *only if none exists*, returning whether this call's value won. Two agents
  racing on a fresh node both call it; exactly one wins and the other then reads the winner's value;
- ``replace``: store a new value over the one that was read (rotation), refusing when it changed meanwhile where
  the store can tell.

Authentication is always the platform's identity (instance role / IRSA, GCP metadata server / workload identity,
Kubernetes service account); no store accepts static credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class StoredValue:
    """A value read from a store. ``version`` identifies it for compare-and-swap; ``text`` is secret."""

    text: str = field(repr=False)
    version: str


class KeyStore(Protocol):
    @property
    def reference(self) -> str:
        """The secret's name/ARN/path, for messages (never its value)."""
        ...

    def read(self) -> StoredValue | None: ...

    def create(self, text: str) -> bool: ...

    def replace(self, text: str, expected: StoredValue) -> None: ...
