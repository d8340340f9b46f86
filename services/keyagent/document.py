"""The one value stored per node: every transaction-manager key version, plus optional node identity extras.

Stored as JSON in a single secret (AWS Secrets Manager, GCP Secret Manager, Vault KV v2 field, Kubernetes Secret
key), so one read gives the agent everything the transaction manager needs, on every platform alike::

    {
      "format": "lacchain-tm-keys/1",
      "current":  {"publicKey": "<base64>", "privateKey": "<base64>", "created": "2025-01-01T00:00:00Z"},
      "previous": [{"publicKey": ..., "privateKey": ..., "created": ...}],   # newest first
      "nodeKey": "0x<64 hex>",                                              # optional: Besu node key
      "tls": {"certificate": "<PEM>", "privateKey": "<PEM>", "ca": "<PEM>"}  # optional: TM TLS pair (+ CA)
    }

``previous`` exists because rotation must keep old keys: payloads sent to an old public key stay encrypted to it,
and Tessera (``keys.keyData`` lists) and Orion (``publickeys``/``privatekeys`` lists) decrypt with any configured
key. A JSON document was chosen over Secrets Manager staging labels because AWSPREVIOUS holds exactly one older
version and GCP, Vault and Kubernetes have no equivalent: one document works on all four stores.

Parsing validates everything and raises ``CorruptKeyValue`` naming the *field*, never showing a value.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lacchain.keys import NodeKey, NodeKeyError
from lacchain.tm.keys import TmKeyPair
from services.keyagent.errors import CorruptKeyValue

FORMAT = "lacchain-tm-keys/1"


def utc_now() -> str:
    """Timestamp format of ``created`` fields (second precision, UTC, ``Z`` suffix)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class KeyVersion:
    """One transaction-manager key pair and when it was made. ``repr`` shows only the public key."""

    pair: TmKeyPair
    created: str

    @classmethod
    def generate(cls) -> KeyVersion:
        return cls(TmKeyPair.generate(), utc_now())

    def to_json(self) -> dict[str, str]:
        return {"publicKey": self.pair.public_key_b64, "privateKey": self.pair.private_key_b64, "created": self.created}


@dataclass(frozen=True)
class TlsPair:
    """The transaction manager's TLS certificate and private key (PEM), and optionally the network CA certificate
    that signed it. ``repr`` hides the key."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)
    ca_pem: str | None = None


@dataclass(frozen=True)
class KeyDocument:
    """All key material of one node's transaction manager. ``repr`` never shows private keys."""

    current: KeyVersion
    previous: tuple[KeyVersion, ...] = ()
    node_key: NodeKey | None = None
    tls: TlsPair | None = None

    @classmethod
    def new(cls) -> KeyDocument:
        """A first-boot document: one freshly generated Curve25519 pair."""
        return cls(current=KeyVersion.generate())

    @property
    def versions(self) -> tuple[KeyVersion, ...]:
        """Every key the transaction manager must load, current first, then newest to oldest."""
        return (self.current, *self.previous)

    def rotated(self, new: KeyVersion | None = None) -> KeyDocument:
        """This document with a new current key and the old current kept first among ``previous``."""
        return replace(self, current=new or KeyVersion.generate(), previous=(self.current, *self.previous))

    def serialize(self) -> str:
        """The stored text. Treat as secret."""
        document: dict[str, Any] = {
            "format": FORMAT,
            "current": self.current.to_json(),
            "previous": [v.to_json() for v in self.previous],
        }
        if self.node_key is not None:
            document["nodeKey"] = self.node_key.hex
        if self.tls is not None:
            document["tls"] = {"certificate": self.tls.certificate_pem, "privateKey": self.tls.private_key_pem}
            if self.tls.ca_pem is not None:
                document["tls"]["ca"] = self.tls.ca_pem
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    @classmethod
    def parse(cls, text: str, where: str) -> KeyDocument:
        """Validate stored text; ``where`` (the secret's name) goes into every error so the reader can find it."""
        try:
            raw: Any = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _corrupt(where, "value", "is not JSON") from None
        if not isinstance(raw, dict):
            raise _corrupt(where, "value", "is not a JSON object")
        if raw.get("format") != FORMAT:
            raise _corrupt(where, "format", f"is not {FORMAT!r}")
        unknown = sorted(set(raw) - {"format", "current", "previous", "nodeKey", "tls"})
        if unknown:
            raise _corrupt(where, ", ".join(unknown), "unknown field(s)")
        current = _parse_version(raw.get("current"), where, "current")
        previous_raw = raw.get("previous", [])
        if not isinstance(previous_raw, list):
            raise _corrupt(where, "previous", "is not a list")
        previous = tuple(_parse_version(item, where, f"previous[{i}]") for i, item in enumerate(previous_raw))
        publics = [v.pair.public_key for v in (current, *previous)]
        if len(set(publics)) != len(publics):
            raise _corrupt(where, "previous", "repeats a key version")
        node_key = _parse_node_key(raw.get("nodeKey"), where)
        tls = _parse_tls(raw.get("tls"), where)
        return cls(current=current, previous=previous, node_key=node_key, tls=tls)


def _corrupt(where: str, field_name: str, problem: str) -> CorruptKeyValue:
    return CorruptKeyValue(
        f"the key document in {where} is corrupted: {field_name} {problem}. Restore a good version of the "
        f"secret (it keeps older versions), or, only if this node's transaction manager has never been used, "
        f"delete its value so the agent generates a new identity"
    )


def _parse_version(raw: Any, where: str, path: str) -> KeyVersion:
    if not isinstance(raw, dict):
        raise _corrupt(where, path, "is missing or not an object")
    private_b64, public_b64, created = raw.get("privateKey"), raw.get("publicKey"), raw.get("created", "")
    if not isinstance(private_b64, str) or not isinstance(public_b64, str) or not isinstance(created, str):
        raise _corrupt(where, path, "needs string fields privateKey, publicKey and created")
    try:
        private = base64.b64decode(private_b64, validate=True)
    except (binascii.Error, ValueError):
        raise _corrupt(where, f"{path}.privateKey", "is not base64") from None
    if len(private) != 32:
        raise _corrupt(where, f"{path}.privateKey", "is not a 32-byte Curve25519 key")
    pair = TmKeyPair(private)
    if pair.public_key_b64 != public_b64.strip():
        # A mismatched pair would make the node advertise a key it cannot decrypt with.
        raise _corrupt(where, f"{path}.publicKey", "does not belong to its privateKey")
    return KeyVersion(pair, created)


def _parse_node_key(raw: Any, where: str) -> NodeKey | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _corrupt(where, "nodeKey", "is not a string")
    try:
        return NodeKey.from_hex(raw)
    except NodeKeyError:
        raise _corrupt(where, "nodeKey", "is not a secp256k1 private key (0x + 64 hex digits)") from None


def _parse_tls(raw: Any, where: str) -> TlsPair | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _corrupt(where, "tls", "is not an object")
    certificate_pem, private_pem, ca_pem = raw.get("certificate"), raw.get("privateKey"), raw.get("ca")
    if not isinstance(certificate_pem, str) or not isinstance(private_pem, str):
        raise _corrupt(where, "tls", "needs string fields certificate and privateKey (PEM)")
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        raise _corrupt(where, "tls.certificate", "is not a PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise _corrupt(where, "tls.privateKey", "is not an unencrypted PEM private key") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(*spki) != private.public_key().public_bytes(*spki):
        raise _corrupt(where, "tls.privateKey", "does not belong to tls.certificate")
    if ca_pem is not None:
        try:
            x509.load_pem_x509_certificate(str(ca_pem).encode())
        except ValueError:
            raise _corrupt(where, "tls.ca", "is not a PEM certificate") from None
    return TlsPair(certificate_pem, private_pem, None if ca_pem is None else str(ca_pem))
