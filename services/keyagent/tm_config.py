"""The transaction manager's configuration with *every* key version, made at boot from the rendered template.

The Pulumi program renders the transaction manager's configuration (``lacchain.tm.config``) before any key exists,
so it can only name one pair of files. After a rotation the node must load every version, and only the agent knows
how many there are. Given the rendered file (``--tessera-config`` / ``--orion-config``), the agent writes a copy
into the output directory whose key lists name all versions, current first (Tessera: ``keys``; Orion:
``publickeys``/``privatekeys``); the transaction manager then starts from that copy. Nothing else changes.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from services.keyagent.errors import ConfigError


def merged_tessera_config(template: str, keys: Mapping[str, Any]) -> str:
    """The Tessera JSON ``template`` with its ``keys`` section replaced by ``keys``."""
    try:
        document = json.loads(template)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--tessera-config is not JSON ({exc.msg} at line {exc.lineno}); give the rendered file"
        ) from None
    if not isinstance(document, dict):
        raise ConfigError("--tessera-config must hold a JSON object (Tessera's configuration)")
    document["keys"] = dict(keys)
    return json.dumps(document, indent=2) + "\n"


def merged_orion_config(template: str, public_paths: Sequence[str], private_paths: Sequence[str]) -> str:
    """The Orion TOML ``template`` with ``publickeys``/``privatekeys`` listing every version."""
    try:
        values = tomllib.loads(template)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--orion-config is not TOML ({exc}); give the rendered orion.conf") from None
    values["publickeys"] = list(public_paths)
    values["privatekeys"] = list(private_paths)
    return "# Orion transaction manager, keys listed by the key agent. Do not edit.\n" + _flat_toml(values)


def _flat_toml(values: Mapping[str, Any]) -> str:
    """TOML for Orion's flat key = value file (strings, integers, booleans, arrays of strings)."""
    lines = []
    for key, value in values.items():
        lines.append(f"{key} = {_toml_value(key, value)}")
    return "\n".join(lines) + "\n"


def _toml_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "[" + ", ".join(json.dumps(item) for item in value) + "]"
    raise ConfigError(f"--orion-config: {key} holds a {type(value).__name__}; Orion's configuration is flat")
