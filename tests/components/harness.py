"""Run the member program under Pulumi's mocks, exactly as ``pulumi up`` would run it, and record what the
engine receives."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components.member import member_program
from lacchain_cli.synth import CLOUD_ASSIGNED, RecordedResource, SynthResult, run_program


def synth(document: dict[str, Any], project_root: Path, stack: str = "test") -> SynthResult:
    return run_program(stack, document, lambda: member_program(project_root))


def by_type(result: SynthResult, resource_type: str) -> list[RecordedResource]:
    return [r for r in result.resources if r.type == resource_type]


def named(result: SynthResult, resource_type: str, name: str) -> RecordedResource:
    matches = [r for r in by_type(result, resource_type) if r.name == name]
    assert len(matches) == 1, f"{resource_type} {name}: {[r.name for r in by_type(result, resource_type)]}"
    return matches[0]


def _uuid(name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


CLOUD_STAND_INS: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "aws:kms/key:Key": lambda name, inputs: {
        "arn": f"arn:aws:kms:{inputs.get('region') or 'us-east-1'}:123456789012:key/{_uuid(name)}",
        "keyId": _uuid(name),
    },
    "gcp:projects/serviceIdentity:ServiceIdentity": lambda _, inputs: {
        "email": "service-123456789012@gcp-sa-secretmanager.iam.gserviceaccount.com",
        "member": "serviceAccount:service-123456789012@gcp-sa-secretmanager.iam.gserviceaccount.com",
    },
}
"""Values only a cloud assigns that ``lacchain_cli.synth.CLOUD_ASSIGNED`` does not stand in for yet: the KMS key
OrionKeyVault creates (its ARN goes into each node's IAM policy) and the Secret Manager service agent. The same
entries are proposed for ``lacchain_cli/synth.py``; once there, ``cloud_stand_ins`` adds nothing."""


@contextmanager
def cloud_stand_ins() -> Iterator[None]:
    """Run a synth with ``CLOUD_STAND_INS`` added to the synth's cloud-assigned values (never replacing one)."""
    added = {kind: value for kind, value in CLOUD_STAND_INS.items() if kind not in CLOUD_ASSIGNED}
    CLOUD_ASSIGNED.update(added)
    try:
        yield
    finally:
        for kind in added:
            del CLOUD_ASSIGNED[kind]
