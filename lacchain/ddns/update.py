"""The signed address update a node sends to the network's DDNS update function.

A node proves who it is with the key that *is* its identity: the secp256k1 node key behind its enode. The
update function recovers the signer from the signature and accepts the update only for that enode, so nobody can
move another node's name. ``sequence`` must grow with every update a node sends (replays are refused) and
``timestamp`` must be recent (a captured update cannot be held back and sent later).

Wire format (HTTP body, UTF-8 JSON)::

    {"update": {"network": "...", "nodeId": "<128 hex>", "host": "203.0.113.7", "port": 60606,
                "sequence": 42, "timestamp": 1767225600},
     "signature": "0x<130 hex: r || s || v, v in {0, 1}>"}

The signed digest is ``keccak256(DOMAIN || canonical JSON of "update")`` where canonical JSON has sorted keys and
no white space, so any implementation (Python here, or a shell daemon with another library) signs the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from lacchain.enode import NODE_ID
from lacchain.errors import LacchainError
from lacchain.keys import NodeKey, NodeKeyError, recover_node_id

DOMAIN = b"\x19LACChain DDNS update v1:\n"
"""Prefix of every signed digest: binds signatures to this purpose (never a valid Ethereum transaction)."""

MAX_BODY_BYTES = 2048
"""Largest update body the function reads; an honest update is about 400 bytes."""

_FIELDS = {"network": str, "nodeId": str, "host": str, "port": int, "sequence": int, "timestamp": int}


class UpdateRejected(LacchainError, ValueError):
    """An update that must not be applied. ``field`` names what is wrong; ``status`` is the HTTP status to answer."""

    def __init__(self, field: str, problem: str, status: int = 400) -> None:
        self.field = field
        self.problem = problem
        self.status = status
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class AddressUpdate:
    """What a node claims: "node ``node_id`` of ``network`` is now at ``host``:``port``"."""

    network: str
    node_id: str
    host: str
    port: int
    sequence: int
    timestamp: int

    def payload(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "nodeId": self.node_id,
            "host": self.host,
            "port": self.port,
            "sequence": self.sequence,
            "timestamp": self.timestamp,
        }

    def digest(self) -> bytes:
        """The 32 bytes that are signed."""
        canonical = json.dumps(self.payload(), sort_keys=True, separators=(",", ":")).encode()
        return keccak(DOMAIN + canonical)

    def sign(self, key: NodeKey) -> SignedUpdate:
        return SignedUpdate(self, key.sign_recoverable(self.digest()))


@dataclass(frozen=True)
class SignedUpdate:
    update: AddressUpdate
    signature: bytes

    def to_json(self) -> str:
        return json.dumps({"update": self.update.payload(), "signature": "0x" + self.signature.hex()})

    def signer_node_id(self) -> str:
        """The node id that produced the signature (not necessarily the one claimed)."""
        try:
            return recover_node_id(self.update.digest(), self.signature)
        except NodeKeyError as exc:
            raise UpdateRejected("signature", str(exc), 401) from None

    def verify(self) -> AddressUpdate:
        """The update, if it was signed by the node it names; ``UpdateRejected`` (401) otherwise."""
        if self.signer_node_id() != self.update.node_id:
            raise UpdateRejected("signature", "not signed by the node named in update.nodeId", 401)
        return self.update

    @classmethod
    def from_json(cls, body: bytes | str) -> SignedUpdate:
        """Parse an HTTP body strictly: every field present with its type, nothing extra, bounded size."""
        raw = body.encode() if isinstance(body, str) else body
        if len(raw) > MAX_BODY_BYTES:
            raise UpdateRejected("body", f"{len(raw)} bytes; an update is at most {MAX_BODY_BYTES}", 413)
        try:
            document = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UpdateRejected("body", 'not JSON; expected {"update": {...}, "signature": "0x..."}') from None
        if not isinstance(document, dict) or set(document) != {"update", "signature"}:
            raise UpdateRejected("body", "must be an object with exactly 'update' and 'signature'")
        fields = document["update"]
        if not isinstance(fields, dict):
            raise UpdateRejected("update", "must be an object")
        missing = sorted(set(_FIELDS) - set(fields))
        extra = sorted(set(fields) - set(_FIELDS))
        if missing:
            raise UpdateRejected(f"update.{missing[0]}", "required but missing")
        if extra:
            raise UpdateRejected(f"update.{extra[0]}", "unknown field")
        for name, kind in _FIELDS.items():
            value = fields[name]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise UpdateRejected(f"update.{name}", f"must be {'an integer' if kind is int else 'a string'}")
        if not NODE_ID.match(fields["nodeId"]):
            raise UpdateRejected("update.nodeId", "must be 128 lower-case hex digits")
        if not 1 <= fields["port"] <= 65535:
            raise UpdateRejected("update.port", "must be 1-65535")
        if fields["sequence"] < 0 or fields["timestamp"] < 0:
            raise UpdateRejected("update.sequence", "sequence and timestamp are non-negative")
        signature = document["signature"]
        if not isinstance(signature, str) or len(signature) != 132 or not signature.startswith("0x"):
            raise UpdateRejected("signature", "must be 0x followed by 130 hex digits (r || s || v)")
        try:
            signature_bytes = bytes.fromhex(signature[2:])
        except ValueError:
            raise UpdateRejected("signature", "is not hexadecimal") from None
        update = AddressUpdate(
            network=fields["network"],
            node_id=fields["nodeId"],
            host=fields["host"],
            port=fields["port"],
            sequence=fields["sequence"],
            timestamp=fields["timestamp"],
        )
        return cls(update, signature_bytes)
