"""What the daemon must remember across restarts, in one small JSON file in its state directory.

* ``sequence``: the last sequence number it signed. The function refuses an update whose sequence is not greater
  than the last one it accepted (replay protection), so a restarted daemon must keep counting up. The next number
  is ``max(stored + 1, unix milliseconds)``: it grows across restarts, and even a lost state file yields numbers
  above anything sent before (unless the clock went back, which the 409 handling in ``update_client`` covers).
  It is written *before* the update is sent, so a crash between sending and recording cannot reuse a number.
* ``published``: the address the function last accepted, to avoid re-sending it when the table is unreachable.
* ``enr``: the sequence of the last ENR record the function answered for, and how (accepted or refused), so a
  record is sent once per accepted address update and not again on every check. The record's ``seq`` is the
  sequence of the address update it describes (see ``update_client.publish_enr``), so it grows, and is kept
  across restarts, exactly like the update sequence.
* ``applied``: the peer and allowlist sets last applied to the running Besu, so a failed JSON-RPC call is retried
  on the next cycle instead of being forgotten once the files are already rewritten.

A corrupt file is moved aside (``state.json.corrupt``), never silently overwritten.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.ddns_daemon.files import write_atomically

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
STATE_VERSION = 1


@dataclass(frozen=True)
class Published:
    host: str
    port: int
    sequence: int


@dataclass(frozen=True)
class EnrSent:
    sequence: int
    accepted: bool
    """False: refused (a 4xx other than "already stored"); not sent again for this sequence."""


@dataclass
class DaemonState:
    sequence: int = 0
    published: Published | None = None
    applied_peers: frozenset[str] | None = None
    applied_allowlist: frozenset[str] | None = None
    enr: EnrSent | None = None

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"version": STATE_VERSION, "sequence": self.sequence}
        if self.published is not None:
            document["published"] = {
                "host": self.published.host,
                "port": self.published.port,
                "sequence": self.published.sequence,
            }
        if self.enr is not None:
            document["enr"] = {"sequence": self.enr.sequence, "accepted": self.enr.accepted}
        applied: dict[str, list[str]] = {}
        if self.applied_peers is not None:
            applied["peers"] = sorted(self.applied_peers)
        if self.applied_allowlist is not None:
            applied["allowlist"] = sorted(self.applied_allowlist)
        if applied:
            document["applied"] = applied
        return document

    @classmethod
    def from_document(cls, document: Any) -> DaemonState:
        if not isinstance(document, dict) or not isinstance(document.get("sequence"), int):
            raise ValueError("not a daemon state document")
        published = document.get("published")
        enr = document.get("enr")
        applied = document.get("applied") or {}
        peers = applied.get("peers")
        allowlist = applied.get("allowlist")
        return cls(
            sequence=document["sequence"],
            published=Published(str(published["host"]), int(published["port"]), int(published["sequence"]))
            if isinstance(published, dict)
            else None,
            applied_peers=frozenset(peers) if isinstance(peers, list) else None,
            applied_allowlist=frozenset(allowlist) if isinstance(allowlist, list) else None,
            enr=EnrSent(int(enr["sequence"]), bool(enr["accepted"])) if isinstance(enr, dict) else None,
        )


class StateStore:
    """Loads the state once and writes it back atomically on every change."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE
        directory.mkdir(parents=True, exist_ok=True)
        self.state = self._load()

    def _load(self) -> DaemonState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return DaemonState()
        try:
            return DaemonState.from_document(json.loads(raw))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            aside = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, aside)
            log.error("state file %s is corrupt; moved to %s and starting afresh", self.path, aside)
            return DaemonState()

    def save(self) -> None:
        payload = json.dumps(self.state.to_document(), indent=2, sort_keys=True) + "\n"
        write_atomically(self.path, payload.encode(), keep_previous=False, mode=0o600)

    def reserve_sequence(self, now_ms: int, floor: int = 0) -> int:
        """The next sequence number, recorded before it is used: ``max(stored + 1, now_ms, floor)``."""
        sequence = max(self.state.sequence + 1, now_ms, floor)
        self.state.sequence = sequence
        self.save()
        return sequence

    def record_published(self, host: str, port: int, sequence: int) -> None:
        self.state.published = Published(host, port, sequence)
        self.save()

    def record_enr(self, sequence: int, accepted: bool) -> None:
        self.state.enr = EnrSent(sequence, accepted)
        self.save()

    def record_applied(self, peers: frozenset[str] | None, allowlist: frozenset[str] | None) -> None:
        if peers == self.state.applied_peers and allowlist == self.state.applied_allowlist:
            return
        self.state.applied_peers = peers
        self.state.applied_allowlist = allowlist
        self.save()
