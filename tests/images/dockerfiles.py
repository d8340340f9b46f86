"""Reading Dockerfiles in tests: every ``images/*/Dockerfile``, and their instructions with continuations joined."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.standins import ROOT

IMAGES_DIR = ROOT / "images"


def all_dockerfiles() -> list[Path]:
    """Every Dockerfile under ``images/`` (new images are covered without editing the tests)."""
    return sorted(IMAGES_DIR.glob("*/Dockerfile"))


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and ``\\`` continuations joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def exposed(dockerfile: Path) -> set[str]:
    """EXPOSEd ports as ``<port>/<proto>`` (tcp when no protocol is given)."""
    ports: set[str] = set()
    for keyword, rest in instructions(dockerfile):
        if keyword == "EXPOSE":
            for item in rest.split():
                port, _, proto = item.partition("/")
                ports.add(f"{int(port)}/{proto or 'tcp'}")
    return ports


def exec_form(dockerfile: Path, keyword: str) -> list[str] | None:
    """The JSON (exec) form of the last ENTRYPOINT or CMD, or None if there is none."""
    found = [rest for kw, rest in instructions(dockerfile) if kw == keyword]
    if not found:
        return None
    value = json.loads(found[-1])
    assert isinstance(value, list), f"{dockerfile}: {keyword} must use the exec (JSON) form"
    return [str(v) for v in value]


def final_user(dockerfile: Path) -> str | None:
    users = [rest for kw, rest in instructions(dockerfile) if kw == "USER"]
    return users[-1] if users else None


def copy_sources(dockerfile: Path) -> list[str]:
    """Source paths of COPY instructions (not ``--from`` stage copies)."""
    sources: list[str] = []
    for keyword, rest in instructions(dockerfile):
        if keyword != "COPY" or "--from=" in rest:
            continue
        parts = [p for p in rest.split() if not p.startswith("--")]
        sources.extend(parts[:-1])
    return sources


VERSION_TAG = re.compile(r"^\d+\.\d+\.\d+([-.][a-z0-9.]+)*$")
"""An exact version tag such as ``24.4.2``, ``1.30.6-alpine`` or ``3.11.14-slim-trixie``."""
