"""Rotation of a node's transaction-manager key: add a new current key, keep every old one readable.

Private transactions already sent to the node are encrypted to its *old* public key, so dropping that key would
make them unreadable. Rotation therefore stores a document whose ``current`` is new and whose ``previous`` starts
with the old current; the agent writes every version and lists them all in ``tm-keys.json``, so Tessera
(``keys.keyData``) and Orion (``publickeys``/``privatekeys``) decrypt old payloads with the old key and new ones
with the new key. New senders must be told the new public key (the node's privacy address); the procedure is in
``services/keyagent/README.md``.

This is the function behind ``lacchain keys rotate NODE``. It runs with the operator's credentials, not the
node's, and writes through the same store interface the agent reads from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lacchain.errors import InvalidInput
from services.keyagent.document import KeyDocument, KeyVersion
from services.keyagent.errors import KeyMissing
from services.keyagent.stores import KeyStore

log = logging.getLogger("lacchain.keyagent.rotate")


@dataclass(frozen=True)
class Rotation:
    """Public keys only: what the operator announces to the member's counterparties."""

    old_public_key: str
    new_public_key: str
    versions: int


def rotate(store: KeyStore, keep: int | None = None, new: KeyVersion | None = None) -> Rotation:
    """Make a new current key for the node behind ``store``.

    ``keep`` limits how many *previous* versions stay (``None`` keeps all): only drop a version once no payload
    encrypted to it is needed any more. ``new`` lets a caller supply the version (e.g. an imported key).
    """
    if keep is not None and keep < 1:
        raise InvalidInput.single(
            "keep", f"{keep} would drop the key being replaced", "use 1 or more, or omit it to keep every version"
        )
    stored = store.read()
    if stored is None:
        raise KeyMissing(
            f"{store.reference} holds no key yet: start the node once (its key agent creates the first key) "
            "before rotating"
        )
    document = KeyDocument.parse(stored.text, store.reference)
    rotated = document.rotated(new)
    if keep is not None:
        rotated = KeyDocument(rotated.current, rotated.previous[:keep], rotated.node_key, rotated.tls)
    store.replace(rotated.serialize(), stored)
    log.info(
        "rotated %s: new key %s, previous %s kept readable (%d versions)",
        store.reference,
        rotated.current.pair.public_key_b64,
        document.current.pair.public_key_b64,
        len(rotated.versions),
    )
    return Rotation(document.current.pair.public_key_b64, rotated.current.pair.public_key_b64, len(rotated.versions))
