"""secp256k1 node keys: create, load, and derive the node id and address.

Besu identifies a node by its secp256k1 public key (the *node id*: the 64-byte uncompressed point without the
0x04 prefix, written as 128 hex digits) and keeps the private key in a file called ``key`` holding ``0x`` and 64
hex digits. The same key signs DDNS updates and, for validators, blocks (its address is the validator address).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

from lacchain.errors import LacchainError

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class NodeKeyError(LacchainError, ValueError):
    """A key that is not a valid secp256k1 key."""


def address_of_node_id(node_id: str) -> str:
    """The EIP-55 checksummed account address of a node id (128 hex digits)."""
    raw = bytes.fromhex(node_id.removeprefix("0x"))
    if len(raw) != 64:
        raise NodeKeyError(f"a node id has 128 hex digits, not {len(raw) * 2}")
    return to_checksum_address(keccak(raw)[12:].hex())


def to_checksum_address(hex_address: str) -> str:
    """EIP-55 mixed-case checksum encoding of a 20-byte address."""
    lower = hex_address.lower().removeprefix("0x")
    digest = keccak(lower.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


@dataclass(frozen=True)
class NodeKey:
    """A node's secp256k1 private key. ``repr`` never shows the private key."""

    private_key: bytes

    def __post_init__(self) -> None:
        if len(self.private_key) != 32:
            raise NodeKeyError("a secp256k1 private key is 32 bytes (64 hex digits)")
        scalar = int.from_bytes(self.private_key, "big")
        if not 0 < scalar < SECP256K1_ORDER:
            raise NodeKeyError("the private key is outside the secp256k1 range (0, n)")

    def __repr__(self) -> str:
        return f"NodeKey(node_id={self.node_id[:16]}…)"

    @classmethod
    def generate(cls) -> NodeKey:
        """A new key from the operating system's CSPRNG."""
        while True:
            candidate = os.urandom(32)
            if 0 < int.from_bytes(candidate, "big") < SECP256K1_ORDER:
                return cls(candidate)

    @classmethod
    def derive_dev_key(cls, seed: str, name: str) -> NodeKey:
        """A *public* deterministic key for development networks (like anvil's well-known mnemonic): anyone who
        knows the seed knows the key, so the stack schema refuses this on LACChain networks."""
        counter = 0
        while True:
            candidate = keccak(f"lacchain-cloud dev key\x00{seed}\x00{name}\x00{counter}".encode())
            if 0 < int.from_bytes(candidate, "big") < SECP256K1_ORDER:
                return cls(candidate)
            counter += 1

    @classmethod
    def from_hex(cls, text: str) -> NodeKey:
        """Parse ``0x``-prefixed or bare hex, surrounding white space allowed (as Besu writes its key file)."""
        cleaned = text.strip().removeprefix("0x").removeprefix("0X")
        if len(cleaned) != 64:
            raise NodeKeyError(f"a private key has 64 hex digits, this has {len(cleaned)}")
        try:
            return cls(bytes.fromhex(cleaned))
        except ValueError:
            raise NodeKeyError("the private key is not hexadecimal") from None

    @classmethod
    def load(cls, path: Path) -> NodeKey:
        """Read a Besu ``key`` file."""
        return cls.from_hex(path.read_text())

    @property
    def hex(self) -> str:
        """``0x`` + 64 hex digits: the content of Besu's ``key`` file. Treat as secret."""
        return "0x" + self.private_key.hex()

    @property
    def public_key(self) -> bytes:
        """The 64-byte uncompressed public key without its 0x04 prefix."""
        return PrivateKey(self.private_key).public_key.format(compressed=False)[1:]

    @property
    def compressed_public_key(self) -> bytes:
        """The 33-byte compressed public key (used in ENR records)."""
        return PrivateKey(self.private_key).public_key.format(compressed=True)

    @property
    def node_id(self) -> str:
        """128 lower-case hex digits, the user part of the enode URL."""
        return self.public_key.hex()

    @property
    def address(self) -> str:
        """EIP-55 checksummed address: the validator address in IBFT 2.0 / QBFT extraData."""
        return address_of_node_id(self.node_id)

    def sign_recoverable(self, digest: bytes) -> bytes:
        """65-byte ``r || s || v`` signature (v in {0, 1}) over a 32-byte digest."""
        if len(digest) != 32:
            raise NodeKeyError("sign a 32-byte digest")
        return PrivateKey(self.private_key).sign_recoverable(digest, hasher=None)

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write Besu's ``key`` (mode 0600) and ``key.pub`` into ``directory``; refuse to overwrite a key."""
        directory.mkdir(parents=True, exist_ok=True)
        key_path, pub_path = directory / "key", directory / "key.pub"
        if key_path.exists():
            raise FileExistsError(f"{key_path} exists; refusing to overwrite a node identity")
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.hex)
        pub_path.write_text("0x" + self.node_id)
        return key_path, pub_path


def recover_node_id(digest: bytes, signature: bytes) -> str:
    """The node id that produced a 65-byte recoverable signature over ``digest``."""
    if len(signature) != 65 or len(digest) != 32:
        raise NodeKeyError("a recoverable signature is 65 bytes over a 32-byte digest")
    try:
        public = PublicKey.from_signature_and_message(signature, digest, hasher=None)
    except Exception as exc:  # coincurve raises plain Exception subclasses for bad points
        raise NodeKeyError(f"signature does not recover to a public key ({exc})") from None
    return public.format(compressed=False)[1:].hex()
