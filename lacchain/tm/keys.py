"""Curve25519 key pairs of the private transaction manager, in the file formats Orion and Tessera share.

The public key file (``nodeKey.pub``) holds the base64 of the 32-byte public key and nothing else; it is also the
node's privacy address (Besu's ``privacy-public-key-file``). The private key file (``nodeKey.key``) holds the
"unlocked" JSON form ``{"type": "unlocked", "data": {"bytes": "<base64>"}}`` that both Orion and Tessera read.
Keys are NaCl box keys (libsodium via PyNaCl), exactly what both managers generate with ``-g``/``-keygen``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from nacl.public import PrivateKey

from lacchain.errors import LacchainError


class TmKeyError(LacchainError, ValueError):
    """A transaction-manager key file or value that is not a Curve25519 key in the expected format."""


def _decode_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise TmKeyError(f"the {what} is not base64") from None
    if len(raw) != 32:
        raise TmKeyError(f"the {what} decodes to {len(raw)} bytes; a Curve25519 key is 32 bytes")
    return raw


@dataclass(frozen=True)
class TmKeyPair:
    """A transaction manager's identity. ``repr`` never shows the private key."""

    private_key: bytes

    def __post_init__(self) -> None:
        if len(self.private_key) != 32:
            raise TmKeyError("a Curve25519 private key is 32 bytes")

    def __repr__(self) -> str:
        return f"TmKeyPair(public_key={self.public_key_b64})"

    @classmethod
    def generate(cls) -> TmKeyPair:
        return cls(bytes(PrivateKey.generate()))

    @property
    def public_key(self) -> bytes:
        return bytes(PrivateKey(self.private_key).public_key)

    @property
    def public_key_b64(self) -> str:
        """The privacy address other members send private transactions to (content of ``nodeKey.pub``)."""
        return base64.b64encode(self.public_key).decode()

    @property
    def private_key_b64(self) -> str:
        return base64.b64encode(self.private_key).decode()

    def private_key_file(self) -> str:
        """Content of ``nodeKey.key``: the unlocked JSON form. Treat as secret."""
        return json.dumps({"type": "unlocked", "data": {"bytes": self.private_key_b64}}, indent=2) + "\n"

    def public_key_file(self) -> str:
        """Content of ``nodeKey.pub``: the base64 public key without a trailing newline, as Orion writes it."""
        return self.public_key_b64

    @classmethod
    def from_private_key_file(cls, text: str) -> TmKeyPair:
        """Parse ``nodeKey.key``; locked (password-protected) keys are refused with the fix."""
        try:
            document: Any = json.loads(text)
        except json.JSONDecodeError:
            raise TmKeyError('the private key file is not JSON; expected {"type": "unlocked", ...}') from None
        if not isinstance(document, dict):
            raise TmKeyError("the private key file must be a JSON object")
        kind = document.get("type")
        if kind != "unlocked":
            raise TmKeyError(
                f"private key type {kind!r} is not supported; store the key unlocked, since the key "
                "vault (not a password) protects it"
            )
        data = document.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("bytes"), str):
            raise TmKeyError("the private key file has no data.bytes")
        return cls(_decode_key(data["bytes"], "private key"))

    def check_public_key_file(self, text: str) -> None:
        """Raise if ``text`` (a ``nodeKey.pub``) is not this pair's public key: a mismatched pair would make the
        node unable to decrypt payloads sent to it."""
        if _decode_key(text, "public key") != self.public_key:
            raise TmKeyError("the public key file does not belong to the private key")


def parse_public_key(text: str) -> bytes:
    """Decode a base64 privacy public key (e.g. from ``nodeKey.pub`` or a privateFor list)."""
    return _decode_key(text, "public key")
