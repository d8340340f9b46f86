"""Which files the agent writes for a key document, and what they contain.

In the output directory (``lacchain.layout.SECRETS_DIR`` by default):

- ``nodeKey.pub`` / ``nodeKey.key``: the current pair, in the Orion/Tessera formats (``lacchain.tm.keys``).
  ``nodeKey.pub`` is also Besu's ``privacy-public-key-file``;
- ``nodeKey.prev-1.pub`` / ``.key``, ``nodeKey.prev-2...``: older pairs after rotations, newest first;
- ``tm-keys.json``: Tessera's whole ``keys`` section listing every pair above (current first), for the
  transaction manager's config to take as is; Orion's ``publickeys``/``privatekeys`` lists follow the same order;
- ``key`` / ``key.pub``: the Besu node key, only if the document holds one;
- ``tls/node.crt`` / ``tls/node.key`` (and ``tls/ca.crt``): the transaction manager's TLS pair and the network
  CA, only if the document holds them (names as ``lacchain.tm.config`` expects them);
- ``tessera-config.json`` / ``orion.conf``: the rendered configuration with every key version, only when the
  agent is given the rendered template (``services.keyagent.tm_config``).

With Tessera reading its keys natively from AWS Secrets Manager (``tessera_keys`` given), no private key file is
written at all: ``tm-keys.json`` then names the vault secrets instead of files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lacchain.layout import NODE_KEY_FILE, TM_PRIVATE_KEY_FILE, TM_PUBLIC_KEY_FILE, TM_TLS_DIR
from lacchain.tm.paths import ORION_RUNTIME_NAME, TESSERA_RUNTIME_NAME
from lacchain.tm.tessera_vault import KeyFilePaths, file_key_data, keys_section
from services.keyagent.document import KeyDocument
from services.keyagent.tm_config import merged_orion_config, merged_tessera_config

PUBLIC_FILE = Path(TM_PUBLIC_KEY_FILE).name
PRIVATE_FILE = Path(TM_PRIVATE_KEY_FILE).name
NODE_KEY = Path(NODE_KEY_FILE).name
TLS_DIR = Path(TM_TLS_DIR).name
TESSERA_KEYS_FILE = "tm-keys.json"
TESSERA_CONFIG_FILE = TESSERA_RUNTIME_NAME
"""The runtime configuration the transaction manager starts from (``lacchain.tm.paths``): images, manifests and VM
units name it there, so the agent takes the name from the same place."""
ORION_CONFIG_FILE = ORION_RUNTIME_NAME
TLS_FILES = {"certificate": "node.crt", "key": "node.key", "ca": "ca.crt"}
"""File names in ``tls/``: what ``lacchain.tm.config`` points Orion and Tessera at (kept equal by a test)."""


@dataclass(frozen=True)
class TmTemplates:
    """The rendered transaction-manager configuration to complete with every key version (either or neither)."""

    tessera: str | None = None
    orion: str | None = None


NO_TEMPLATES = TmTemplates()


MAX_PREVIOUS_FILES = 64
"""Old pair file names the agent cleans up when a document lists fewer versions than an earlier boot wrote."""


def pair_file_names(index: int) -> tuple[str, str]:
    """(public, private) file names of version ``index``: 0 is current, 1.. are previous, newest first."""
    stem = Path(PUBLIC_FILE).stem if index == 0 else f"{Path(PUBLIC_FILE).stem}.prev-{index}"
    return f"{stem}.pub", f"{stem}.key"


def render_files(
    document: KeyDocument,
    directory: Path,
    tessera_keys: dict[str, Any] | None = None,
    templates: TmTemplates = NO_TEMPLATES,
) -> dict[str, str]:
    """Relative file name -> content. Contents with private keys are secret."""
    files: dict[str, str] = {}
    paths: list[KeyFilePaths] = []
    for index, version in enumerate(document.versions):
        public_name, private_name = pair_file_names(index)
        files[public_name] = version.pair.public_key_file()
        if tessera_keys is None:
            files[private_name] = version.pair.private_key_file()
        paths.append(KeyFilePaths(str(directory / public_name), str(directory / private_name)))
    section = tessera_keys if tessera_keys is not None else keys_section(file_key_data(paths))
    files[TESSERA_KEYS_FILE] = json.dumps(section, indent=2) + "\n"
    if templates.tessera is not None:
        files[TESSERA_CONFIG_FILE] = merged_tessera_config(templates.tessera, section)
    if templates.orion is not None:
        publics = [p.public_key_path for p in paths]
        files[ORION_CONFIG_FILE] = merged_orion_config(templates.orion, publics, [p.private_key_path for p in paths])
    if document.node_key is not None:
        files[NODE_KEY] = document.node_key.hex
        files[f"{NODE_KEY}.pub"] = "0x" + document.node_key.node_id
    if document.tls is not None:
        files[f"{TLS_DIR}/{TLS_FILES['certificate']}"] = document.tls.certificate_pem
        files[f"{TLS_DIR}/{TLS_FILES['key']}"] = document.tls.private_key_pem
        if document.tls.ca_pem is not None:
            files[f"{TLS_DIR}/{TLS_FILES['ca']}"] = document.tls.ca_pem
    return files


def stale_candidates() -> list[str]:
    """Every file name the agent may have written on an earlier boot (removed if not written now)."""
    names = [name for index in range(MAX_PREVIOUS_FILES + 1) for name in pair_file_names(index)]
    tls = [f"{TLS_DIR}/{name}" for name in TLS_FILES.values()]
    return [*names, NODE_KEY, f"{NODE_KEY}.pub", *tls, TESSERA_CONFIG_FILE, ORION_CONFIG_FILE]
