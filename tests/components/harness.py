"""Run the member program under Pulumi's mocks, exactly as ``pulumi up`` would run it, and record what the
engine receives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.member import member_program
from lacchain_cli.synth import RecordedResource, SynthResult, run_program


def synth(document: dict[str, Any], project_root: Path, stack: str = "test") -> SynthResult:
    return run_program(stack, document, lambda: member_program(project_root))


def by_type(result: SynthResult, resource_type: str) -> list[RecordedResource]:
    return [r for r in result.resources if r.type == resource_type]


def named(result: SynthResult, resource_type: str, name: str) -> RecordedResource:
    matches = [r for r in by_type(result, resource_type) if r.name == name]
    assert len(matches) == 1, f"{resource_type} {name}: {[r.name for r in by_type(result, resource_type)]}"
    return matches[0]
