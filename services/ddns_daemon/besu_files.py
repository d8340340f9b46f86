"""Besu's three peer-list files, rewritten atomically and only when their peer set changes.

* ``static-nodes.json``: a JSON array of enode URLs (the whole file is the daemon's).
* ``config.toml``: only the ``bootnodes`` key is the daemon's; every other byte is kept.
* ``permissions_config.toml``: only ``nodes-allowlist`` is the daemon's (``accounts-allowlist`` is kept). Besu
  itself rewrites this file when ``perm_addNodesToAllowlist`` succeeds, in its own layout, so "changed" means a
  different *set* of enodes, not different bytes; otherwise the daemon and Besu would rewrite it back and forth.

Changes made to the live Besu do not depend on these files (see ``live``); the files are what Besu reads at its
next start, so they must be right even while Besu is down.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from lacchain.enode import Enode, EnodeError
from services.ddns_daemon.files import write_atomically
from services.ddns_daemon.toml_edit import read_array, set_array

BOOTNODES_KEY = "bootnodes"
ALLOWLIST_KEY = "nodes-allowlist"


class PeerFileError(ValueError):
    """A peer file that exists but cannot be read or edited safely; the message names the file and the fix."""


def canonical(urls: Iterable[str]) -> frozenset[str]:
    """Canonical enode URLs (Besu and the daemon may spell the same enode differently); unparsable entries are
    kept verbatim so they count as a difference and get replaced."""
    result: set[str] = set()
    for url in urls:
        try:
            result.add(Enode.parse(url).url)
        except EnodeError:
            result.add(url)
    return frozenset(result)


def read_static_nodes(path: Path) -> list[str] | None:
    """The enode URLs in ``static-nodes.json``, or ``None`` if the file is missing or not a JSON string array."""
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, list) or not all(isinstance(item, str) for item in document):
        return None
    return document


def sync_static_nodes(path: Path, enodes: Sequence[str]) -> bool:
    """Make ``static-nodes.json`` hold ``enodes``; returns whether the file was rewritten."""
    current = read_static_nodes(path)
    if current is not None and canonical(current) == canonical(enodes):
        return False
    write_atomically(path, (json.dumps(list(enodes), indent=2) + "\n").encode())
    return True


def read_toml_array(path: Path, key: str) -> list[str] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return read_array(text, key, str(path))


def sync_toml_array(path: Path, key: str, enodes: Sequence[str], *, create: bool) -> bool:
    """Set the array ``key`` of the TOML file ``path`` to ``enodes``, editing only that key.

    A missing file is created (holding only that key) when ``create`` is set, and is an error otherwise (Besu's
    ``config.toml`` is rendered by the platform; the daemon never invents one). An absent key counts as empty.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not create:
            raise PeerFileError(f"{path} does not exist; render Besu's config before starting the daemon") from None
        text = ""
    current = read_array(text, key, str(path)) or []
    if canonical(current) == canonical(enodes) and (current or text):
        return False
    write_atomically(path, set_array(text, key, list(enodes), str(path)).encode("utf-8"))
    return True
