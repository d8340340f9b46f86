"""After a rotation the transaction manager loads every key: the agent completes the rendered configuration."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from lacchain.errors import InvalidInput
from lacchain.tm.config import TmSettings, render_orion_config, tessera_config
from services.keyagent.agent import run
from services.keyagent.cli import load_templates, parse_config
from services.keyagent.document import KeyDocument
from services.keyagent.errors import ConfigError
from services.keyagent.files import TmTemplates
from services.keyagent.rotate import rotate
from services.keyagent.tm_config import merged_orion_config
from tests.services.keyagent.test_keyagent_output import MemoryStore

SETTINGS = TmSettings(advertised_host="writer-1.example.org", peers=["https://writer-2.example.org:4040"])


def _rotated_twice() -> MemoryStore:
    store = MemoryStore(KeyDocument.new().serialize())
    rotate(store)
    rotate(store)
    return store


def test_tessera_config_lists_every_version_and_keeps_everything_else(memory_dir: Path) -> None:
    template = tessera_config(SETTINGS)  # the renderer the Pulumi program uses
    store = _rotated_twice()
    outcome = run(store, memory_dir, templates=TmTemplates(tessera=json.dumps(template)))

    merged = json.loads((memory_dir / "tessera-config.json").read_text())
    assert {k: v for k, v in merged.items() if k != "keys"} == {k: v for k, v in template.items() if k != "keys"}
    pairs = merged["keys"]["keyData"]
    assert len(pairs) == outcome.versions == 3
    assert Path(pairs[0]["publicKeyPath"]).read_text() == outcome.public_key
    for pair in pairs:
        assert Path(pair["privateKeyPath"]).exists()


def test_orion_config_lists_every_version_and_keeps_everything_else(memory_dir: Path) -> None:
    template = render_orion_config(SETTINGS)
    outcome = run(_rotated_twice(), memory_dir, templates=TmTemplates(orion=template))

    merged = tomllib.loads((memory_dir / "orion.conf").read_text())
    original = tomllib.loads(template)
    assert {k: v for k, v in merged.items() if not k.endswith("keys")} == {
        k: v for k, v in original.items() if not k.endswith("keys")
    }
    assert len(merged["publickeys"]) == len(merged["privatekeys"]) == 3
    assert Path(merged["publickeys"][0]).read_text() == outcome.public_key
    assert [Path(p).name for p in merged["privatekeys"]] == ["nodeKey.key", "nodeKey.prev-1.key", "nodeKey.prev-2.key"]


def test_nested_orion_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="flat"):
        merged_orion_config('[section]\nkey = "v"\n', ["a.pub"], ["a.key"])


def test_a_missing_template_stops_the_agent_before_the_store(tmp_path: Path) -> None:
    config = parse_config(["--backend", "aws", "--secret", "s", "--tessera-config", str(tmp_path / "none.json")], {})
    with pytest.raises(ConfigError, match="--tessera-config"):
        load_templates(config)
    with pytest.raises(InvalidInput, match="one transaction manager"):
        parse_config(["--backend", "aws", "--secret", "s", "--tessera-config", "a", "--orion-config", "b"], {})
