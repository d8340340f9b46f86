"""The vocabulary every layer shares: node roles, platforms and transaction managers.

Kept apart from the stack schema so that light modules (topology, rendering, services on nodes) can use the names
without importing pydantic.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """LACChain node types; the role decides peers, open ports and RPC APIs."""

    VALIDATOR = "validator"
    BOOT = "boot"
    WRITER = "writer"
    OBSERVER = "observer"


class Platform(StrEnum):
    AWS = "aws"
    GCP = "gcp"
    KUBERNETES = "kubernetes"


class TransactionManager(StrEnum):
    """The private transaction manager beside Besu. Orion is archived; Tessera is its successor."""

    ORION = "orion"
    TESSERA = "tessera"
    NONE = "none"
