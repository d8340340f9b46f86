"""Solidity contracts of lacchain-cloud and the Python that builds, deploys and drives them.

The sources live in ``contracts/src``; ``python -m contracts.build`` compiles them with the pinned solcjs and writes
one JSON artifact per deployable contract to ``contracts/artifacts`` (committed, and checked by CI with
``--check``). Everything else here reads the artifacts, never the compiler, so deploying, building a genesis and
driving the contracts need no Node.js.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
SOURCES_DIR = CONTRACTS_DIR / "src"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"

# Names in the NodeIngress registry (bytes32, as upstream: "rules" and "administration").
RULES_CONTRACT = b"rules".ljust(32, b"\0")
ADMIN_CONTRACT = b"administration".ljust(32, b"\0")


class ArtifactError(LookupError):
    """An artifact that is missing or unreadable; the message says how to rebuild it."""


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """The compiled artifact of contract ``name``: abi, bytecode, deployedBytecode, storageLayout, compiler, ...

    Artifacts are read once per process and must not be mutated by callers.
    """
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(artifact_names()) or "none"
        raise ArtifactError(
            f"no artifact {path.relative_to(CONTRACTS_DIR.parent)} (known: {known}); run `python -m contracts.build`"
        ) from None
    artifact: dict[str, Any] = json.loads(text)
    return artifact


def artifact_names() -> list[str]:
    """Names of the contracts that have an artifact, sorted."""
    return sorted(path.stem for path in ARTIFACTS_DIR.glob("*.json"))


def abi(name: str) -> list[dict[str, Any]]:
    """The ABI of contract ``name``."""
    result: list[dict[str, Any]] = load_artifact(name)["abi"]
    return result
