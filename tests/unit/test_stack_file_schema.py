"""The committed editor schema for stack files: current, and it accepts our stacks and refuses typos."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from lacchain.stack_config import stack_file_json_schema

STACKS = Path(__file__).resolve().parents[2] / "stacks"
SCHEMA_FILE = STACKS / "lacchain-cloud.schema.json"


def test_committed_schema_is_current() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == stack_file_json_schema(), (
        "regenerate it: lacchain schema --stack-file --out stacks/lacchain-cloud.schema.json"
    )


@pytest.mark.parametrize("stack_file", sorted(STACKS.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_every_stack_file_validates_and_points_editors_at_the_schema(stack_file: Path) -> None:
    text = stack_file.read_text()
    assert text.startswith("# yaml-language-server: $schema=./lacchain-cloud.schema.json")
    jsonschema.validate(yaml.safe_load(text), stack_file_json_schema())


def test_typos_are_refused_and_encrypted_keys_and_provider_settings_accepted() -> None:
    document = yaml.safe_load((STACKS / "Pulumi.local.yaml").read_text())
    schema = stack_file_json_schema()
    document["config"]["aws:region"] = "sa-east-1"
    document["config"]["lacchain-cloud:nodeKeys"] = {"validator-1": {"secure": "AAABAF..."}}
    jsonschema.validate(document, schema)
    document["config"]["lacchain-cloud:nodez"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)
