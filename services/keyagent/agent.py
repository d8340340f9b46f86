"""The agent's one job: make sure the node has exactly one transaction-manager identity, and put it in memory.

Order matters and is deliberate: the output directory is checked *before* any key is fetched or generated
(a refusal changes nothing anywhere), the stored value is validated *before* any file is written, and a new key is
only generated when the store holds none, stored with create-if-absent semantics so racing agents converge on
one identity.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from services.keyagent.document import KeyDocument
from services.keyagent.errors import KeyAgentError, KeyMissing
from services.keyagent.files import NO_TEMPLATES, TmTemplates, render_files, stale_candidates
from services.keyagent.output import MOUNTINFO, ensure_memory_backed, write_files
from services.keyagent.stores import KeyStore

log = logging.getLogger("lacchain.keyagent")


class TesseraPublisher(Protocol):
    def publish(self, document: KeyDocument) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Outcome:
    """What a run did. ``public_key`` is the node's privacy address (safe to log)."""

    created: bool
    public_key: str
    versions: int
    written: tuple[Path, ...]


def obtain_document(
    store: KeyStore,
    allow_create: bool,
    settle_reads: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[KeyDocument, bool]:
    """The node's key document, generating and storing one if none exists. Returns (document, created)."""
    stored = store.read()
    if stored is not None:
        return KeyDocument.parse(stored.text, store.reference), False
    if not allow_create:
        raise KeyMissing(
            f"no transaction manager key is stored in {store.reference} and key creation is disabled: restore "
            "the secret's value from its previous version or a backup, or run the agent once without "
            "--no-create to generate this node's identity"
        )
    candidate = KeyDocument.new()
    if store.create(candidate.serialize()):
        return candidate, True
    # Another agent won the race: its value is the identity. Give a store with eventual reads a moment.
    for attempt in range(settle_reads):
        winner = store.read()
        if winner is not None:
            return KeyDocument.parse(winner.text, store.reference), False
        sleep(0.2 * (attempt + 1))
    raise KeyAgentError(
        f"{store.reference} already has a first value (another agent created it) but none can be read: if its "
        "value was deleted, restore it; if the node never used its transaction manager, delete the secret "
        "entirely and restart the agent"
    )


def run(
    store: KeyStore,
    output_dir: Path,
    allow_create: bool = True,
    allow_persistent_dir: bool = False,
    tessera: TesseraPublisher | None = None,
    templates: TmTemplates = NO_TEMPLATES,
    mountinfo: Path = MOUNTINFO,
) -> Outcome:
    """Fetch or create the node's keys and write them to ``output_dir`` (see ``services.keyagent.files``)."""
    ensure_memory_backed(output_dir, allow_persistent_dir, mountinfo)
    document, created = obtain_document(store, allow_create)
    tessera_keys = tessera.publish(document) if tessera is not None else None
    files = render_files(document, output_dir, tessera_keys, templates)
    written = write_files(output_dir, files, stale=stale_candidates())
    outcome = Outcome(created, document.current.pair.public_key_b64, len(document.versions), tuple(written))
    log.info(
        "%s transaction manager key %s (%d version%s) from %s; wrote %d files to %s",
        "created" if created else "loaded",
        outcome.public_key,
        outcome.versions,
        "" if outcome.versions == 1 else "s",
        store.reference,
        len(written),
        output_dir,
    )
    return outcome
