"""``lacchain diff``: what changes between two synth outputs, resource by resource.

Resources are matched by URN (what Pulumi matches them by); a changed resource lists each changed input by its
JSON path with the old and new value, which is what a reviewer needs from a pull request's preview.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lacchain.errors import InvalidInput

OPTION_FIELDS = ("parent", "provider", "protect", "retainOnDelete", "dependsOn")


@dataclass
class Change:
    path: str
    old: Any
    new: Any


@dataclass
class PlanDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[Change]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def load_plan(directory: Path) -> dict[str, Any]:
    path = directory / "plan.json"
    try:
        plan: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInput.single(
            str(path), "does not exist", "run `lacchain synth --out` into that directory first"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput.single(str(path), f"is not JSON ({exc})", "synth again") from None
    return plan


def _walk(old: Any, new: Any, path: str, changes: list[Change]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _walk(old.get(key, None), new.get(key, None), f"{path}.{key}" if path else key, changes)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(a, b, f"{path}[{index}]", changes)
    elif old != new:
        changes.append(Change(path, old, new))


def diff_plans(old: dict[str, Any], new: dict[str, Any]) -> PlanDiff:
    before = {r["urn"]: r for r in old.get("resources", [])}
    after = {r["urn"]: r for r in new.get("resources", [])}
    result = PlanDiff(added=sorted(set(after) - set(before)), removed=sorted(set(before) - set(after)))
    for urn in sorted(set(before) & set(after)):
        changes: list[Change] = []
        _walk(before[urn].get("inputs"), after[urn].get("inputs"), "inputs", changes)
        for option in OPTION_FIELDS:
            _walk(before[urn].get(option), after[urn].get(option), option, changes)
        if changes:
            result.changed[urn] = changes
    return result


def short(value: Any, limit: int = 100) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_diff(result: PlanDiff) -> str:
    """Plain text, one line per resource and per changed input."""
    if result.empty:
        return "no changes\n"
    lines = [f"{len(result.added)} to add, {len(result.changed)} to change, {len(result.removed)} to remove"]
    lines += [f"+ {urn}" for urn in result.added]
    lines += [f"- {urn}" for urn in result.removed]
    for urn, changes in result.changed.items():
        lines.append(f"~ {urn}")
        lines += [f"    {c.path}: {short(c.old)} -> {short(c.new)}" for c in changes]
    return "\n".join(lines) + "\n"
