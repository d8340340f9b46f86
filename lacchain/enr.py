"""Ethereum Node Records (EIP-778) and node lists in DNS (EIP-1459). Pure: RLP, keccak and secp256k1 only.

ENR
    ``[signature, seq, k1, v1, k2, v2, ...]`` in RLP, keys sorted and unique, at most 300 bytes. Identity scheme
    "v4": ``secp256k1`` holds the 33-byte compressed public key and ``signature`` is the 64-byte ``r || s`` over
    ``keccak256(rlp([seq, k1, v1, ...]))``. Text form: ``enr:`` + URL-safe base64 without padding. ``ip``/``ip6``
    are 4/16 bytes, ports are big-endian integers (RLP integers, no leading zeros).

EIP-1459 tree
    The root TXT record at the list's domain is ``enrtree-root:v1 e=<enr-root> l=<link-root> seq=<n> sig=<sig>``
    where ``sig`` is a 65-byte recoverable secp256k1 signature (``r || s || v``) over the keccak256 of the text
    before `` sig=``, URL-safe base64 without padding. Every other entry lives at ``<hash>.<domain>`` with
    ``<hash>`` the base32 (no padding) of the first 16 bytes of the keccak256 of the entry's text:
    ``enrtree-branch:<h1>,<h2>,...``, ``enr:...`` leaves (ENR subtree) and ``enrtree://<key>@<domain>`` links (link
    subtree), where ``<key>`` is the base32 of the signer's 33-byte compressed public key.

DNS limits
    A TXT record is a sequence of character-strings of at most 255 bytes each; resolvers (geth, Besu) concatenate
    them. ``txt_strings`` splits an entry; branches are limited to ``MAX_BRANCH_CHILDREN`` (8) hashes, so a branch
    always fits one string (15 + 8 * 26 + 7 = 230 bytes), and an ENR leaf (at most 4 + 400 bytes) takes two.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import rlp
from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

from lacchain.errors import LacchainError
from lacchain.keys import NodeKey

MAX_RECORD_BYTES = 300
TXT_STRING_BYTES = 255
HASH_BYTES = 16
HASH_CHARS = 26
"""Length of a base32 entry hash (16 bytes, no padding)."""
ROOT_PREFIX = "enrtree-root:v1"
BRANCH_PREFIX = "enrtree-branch:"
LINK_PREFIX = "enrtree://"
ENR_PREFIX = "enr:"
MAX_BRANCH_CHILDREN = (TXT_STRING_BYTES - len(BRANCH_PREFIX) + 1) // (HASH_CHARS + 1)
"""8: the widest branch that fits one 255-byte TXT string."""

_B32_HASH = re.compile(r"^[A-Z2-7]{10,32}$")
_ROOT = re.compile(r"^enrtree-root:v1 e=([A-Z2-7]+) l=([A-Z2-7]+) seq=(\d+) sig=([A-Za-z0-9_-]+)$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9])?$"
)


class EnrError(LacchainError, ValueError):
    """A malformed or wrongly signed record or tree entry. ``signature`` is True when the signature is at fault."""

    def __init__(self, message: str, signature: bool = False) -> None:
        super().__init__(message)
        self.signature = signature


# ------------------------------------------------------------------------------------------------------ encodings


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise EnrError("not URL-safe base64 without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise EnrError("not URL-safe base64 without padding") from None


def b32(data: bytes) -> str:
    return base64.b32encode(data).rstrip(b"=").decode()


def b32_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Z2-7]+", text) or len(text) % 8 in (1, 3, 6):
        raise EnrError(f"{text[:20]!r} is not base32 without padding")
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise EnrError(f"{text[:20]!r} is not base32 without padding") from None


@lru_cache(maxsize=65536)
def entry_hash(text: str) -> str:
    """The subdomain label of a tree entry: base32 of the first 16 bytes of keccak256(text)."""
    return b32(keccak(text.encode())[:HASH_BYTES])


def txt_strings(text: str) -> list[str]:
    """Split an entry into the 255-byte character-strings of one TXT record (entries are ASCII)."""
    data = text.encode("ascii")
    return [data[i : i + TXT_STRING_BYTES].decode("ascii") for i in range(0, len(data), TXT_STRING_BYTES)] or [""]


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _bytes_int(data: bytes, what: str) -> int:
    if data[:1] == b"\x00":
        raise EnrError(f"{what} has leading zero bytes (not a canonical RLP integer)")
    return int.from_bytes(data, "big")


# ------------------------------------------------------------------------------------------------------------- ENR


@dataclass(frozen=True)
class Enr:
    """A signed node record ("v4" identity scheme). Build with ``Enr.create``, parse with ``from_text``/``decode``;
    both verify the signature, so an ``Enr`` instance always holds a valid record."""

    seq: int
    pairs: tuple[tuple[bytes, bytes], ...]
    """Sorted, unique (key, raw value) pairs, including ``id`` and ``secp256k1``."""
    signature: bytes

    # construction -----------------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        key: NodeKey,
        seq: int,
        *,
        ip: str | None = None,
        tcp: int | None = None,
        udp: int | None = None,
        ip6: str | None = None,
        tcp6: int | None = None,
        udp6: int | None = None,
        extra: Mapping[bytes, bytes] | None = None,
    ) -> Enr:
        """Sign a record for ``key`` (RFC 6979 deterministic signature)."""
        values: dict[bytes, bytes] = {b"id": b"v4", b"secp256k1": key.compressed_public_key}
        if ip is not None:
            values[b"ip"] = _packed(ip, 4, "ip")
        if ip6 is not None:
            values[b"ip6"] = _packed(ip6, 6, "ip6")
        for name, port in ((b"tcp", tcp), (b"udp", udp), (b"tcp6", tcp6), (b"udp6", udp6)):
            if port is not None:
                if not 0 <= port <= 65535:
                    raise EnrError(f"{name.decode()} port {port} is outside 0-65535")
                values[name] = _int_bytes(port)
        for name, value in (extra or {}).items():
            if name in values:
                raise EnrError(f"key {name!r} is set twice")
            values[name] = value
        if not 0 <= seq < 2**64:
            raise EnrError("seq is a 64-bit unsigned integer")
        pairs = tuple(sorted(values.items()))
        digest = keccak(rlp.encode(_content(seq, pairs)))
        signature = PrivateKey(key.private_key).sign_recoverable(digest, hasher=None)[:64]
        record = cls(seq, pairs, signature)
        record._check_size()
        return record

    @classmethod
    def decode(cls, data: bytes) -> Enr:
        """Parse and verify RLP bytes; ``EnrError`` says what is wrong."""
        if len(data) > MAX_RECORD_BYTES:
            raise EnrError(f"record is {len(data)} bytes; at most {MAX_RECORD_BYTES}")
        try:
            items: Any = rlp.decode(data, strict=True)
        except Exception as exc:
            raise EnrError(f"not RLP ({type(exc).__name__})") from None
        if not isinstance(items, list) or len(items) < 2 or len(items) % 2:
            raise EnrError("a record is an RLP list [signature, seq, k, v, ...]")
        if not all(isinstance(item, bytes) for item in items):
            raise EnrError("record items must be byte strings")
        signature, seq_bytes, *rest = items
        if len(seq_bytes) > 8:
            raise EnrError("seq is a 64-bit unsigned integer")
        seq = _bytes_int(seq_bytes, "seq")
        pairs = tuple((rest[i], rest[i + 1]) for i in range(0, len(rest), 2))
        keys = [k for k, _ in pairs]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise EnrError("keys must be sorted and unique")
        record = cls(seq, pairs, signature)
        record.verify()
        return record

    @classmethod
    def from_text(cls, text: str) -> Enr:
        """Parse ``enr:<base64url>``."""
        if not text.startswith(ENR_PREFIX):
            raise EnrError(f"an ENR's text form starts with {ENR_PREFIX!r}")
        return cls.decode(b64url_decode(text[len(ENR_PREFIX) :]))

    # properties -------------------------------------------------------------------------------------------------

    def get(self, key: str | bytes) -> bytes | None:
        name = key.encode() if isinstance(key, str) else key
        for k, v in self.pairs:
            if k == name:
                return v
        return None

    @property
    def public_key(self) -> bytes:
        """The 33-byte compressed secp256k1 public key."""
        value = self.get(b"secp256k1")
        if value is None:
            raise EnrError("no secp256k1 key")
        return value

    @cached_property
    def enode_id(self) -> str:
        """The node id as in enode URLs and Besu: 128 hex digits of the uncompressed key without 0x04."""
        return PublicKey(self.public_key).format(compressed=False)[1:].hex()

    @cached_property
    def node_id(self) -> bytes:
        """The "v4" node address in the DHT: keccak256 of the uncompressed key without 0x04."""
        return keccak(bytes.fromhex(self.enode_id))

    @property
    def ip(self) -> str | None:
        value = self.get(b"ip")
        return str(ipaddress.IPv4Address(value)) if value is not None else None

    @property
    def ip6(self) -> str | None:
        value = self.get(b"ip6")
        return str(ipaddress.IPv6Address(value)) if value is not None else None

    def port(self, name: str) -> int | None:
        value = self.get(name)
        return _bytes_int(value, name) if value is not None else None

    @property
    def tcp(self) -> int | None:
        return self.port("tcp")

    @property
    def udp(self) -> int | None:
        return self.port("udp")

    def addresses(self) -> list[str]:
        return [a for a in (self.ip, self.ip6) if a is not None]

    # encodings --------------------------------------------------------------------------------------------------

    def encode(self) -> bytes:
        return self._encoded

    @cached_property
    def _encoded(self) -> bytes:
        return bytes(rlp.encode([self.signature, *_content(self.seq, self.pairs)]))

    @cached_property
    def text(self) -> str:
        return ENR_PREFIX + b64url(self.encode())

    def __str__(self) -> str:
        return self.text

    def verify(self) -> None:
        """Check the "v4" scheme and the signature; ``EnrError`` (``signature=True`` if it does not verify)."""
        if self.get(b"id") != b"v4":
            raise EnrError(f"identity scheme {self.get(b'id')!r} is not supported; only 'v4'")
        key = self.get(b"secp256k1")
        if key is None or len(key) != 33:
            raise EnrError("the v4 scheme needs a 33-byte compressed secp256k1 key")
        for name, size in ((b"ip", 4), (b"ip6", 16)):
            value = self.get(name)
            if value is not None and len(value) != size:
                raise EnrError(f"{name.decode()} must be {size} bytes")
        for name in (b"tcp", b"udp", b"tcp6", b"udp6"):
            value = self.get(name)
            if value is not None and (len(value) > 2 or value[:1] == b"\x00"):
                raise EnrError(f"{name.decode()} must be a port number (canonical big-endian, 0-65535)")
        if len(self.signature) != 64:
            raise EnrError("a v4 signature is 64 bytes (r || s)", signature=True)
        try:
            public = PublicKey(key)
        except Exception:
            raise EnrError("the secp256k1 value is not a point on the curve") from None
        digest = keccak(rlp.encode(_content(self.seq, self.pairs)))
        if not _verify(public, self.signature, digest):
            raise EnrError("signature does not verify with the record's secp256k1 key", signature=True)
        self._check_size()

    def _check_size(self) -> None:
        size = len(self.encode())
        if size > MAX_RECORD_BYTES:
            raise EnrError(f"record is {size} bytes; at most {MAX_RECORD_BYTES}")


def _content(seq: int, pairs: Iterable[tuple[bytes, bytes]]) -> list[Any]:
    content: list[Any] = [seq]
    for k, v in pairs:
        content += [k, v]
    return content


def _packed(host: str, version: int, what: str) -> bytes:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise EnrError(f"{what} {host!r} is not an IP address") from None
    if address.version != version:
        raise EnrError(f"{what} must be an IPv{version} address")
    return address.packed


def _verify(public: PublicKey, signature64: bytes, digest: bytes) -> bool:
    """Verify a 64-byte ``r || s`` signature (low or high s) over a 32-byte digest."""
    for recovery_id in (0, 1):
        try:
            recovered = PublicKey.from_signature_and_message(signature64 + bytes([recovery_id]), digest, hasher=None)
        except Exception:
            continue
        if recovered.format() == public.format():
            return True
    return False


# ------------------------------------------------------------------------------------------------------ EIP-1459


def tree_link(compressed_public_key: bytes, domain: str) -> str:
    """``enrtree://<base32 key>@<domain>``: how clients (Besu ``--discovery-dns-url``) name a list."""
    if len(compressed_public_key) != 33:
        raise EnrError("a tree link holds the 33-byte compressed public key")
    domain = domain.rstrip(".")
    if not _DOMAIN.match(domain):
        raise EnrError(f"{domain!r} is not a domain name")
    return f"{LINK_PREFIX}{b32(compressed_public_key)}@{domain}"


def parse_link(text: str) -> tuple[bytes, str]:
    """(compressed public key, domain) of an ``enrtree://`` link."""
    if not text.startswith(LINK_PREFIX) or text.count("@") != 1:
        raise EnrError(f"a link is {LINK_PREFIX}<base32 key>@<domain>")
    key_text, domain = text[len(LINK_PREFIX) :].split("@")
    key = b32_decode(key_text)
    if len(key) != 33:
        raise EnrError("a link's key is a 33-byte compressed public key")
    try:
        PublicKey(key)
    except Exception:
        raise EnrError("a link's key is not a point on secp256k1") from None
    if not _DOMAIN.match(domain):
        raise EnrError(f"{domain!r} is not a domain name")
    return key, domain


@dataclass(frozen=True)
class Root:
    enr_root: str
    link_root: str
    seq: int
    signature: bytes

    @property
    def signed_text(self) -> str:
        return f"{ROOT_PREFIX} e={self.enr_root} l={self.link_root} seq={self.seq}"

    @property
    def text(self) -> str:
        return f"{self.signed_text} sig={b64url(self.signature)}"

    @classmethod
    def sign(cls, enr_root: str, link_root: str, seq: int, key: NodeKey) -> Root:
        unsigned = cls(enr_root, link_root, seq, b"")
        return cls(enr_root, link_root, seq, key.sign_recoverable(keccak(unsigned.signed_text.encode())))

    @classmethod
    def parse(cls, text: str) -> Root:
        match = _ROOT.match(text)
        if match is None:
            raise EnrError(f"not a tree root; expected '{ROOT_PREFIX} e=<hash> l=<hash> seq=<n> sig=<base64url>'")
        e, link, seq, sig = match.groups()
        for label in (e, link):
            if not _B32_HASH.match(label):
                raise EnrError(f"{label!r} is not a base32 entry hash")
        signature = b64url_decode(sig)
        if len(signature) != 65:
            raise EnrError("the root signature is 65 bytes (r || s || v)", signature=True)
        return cls(e, link, int(seq), signature)

    def signer(self) -> bytes:
        """The compressed public key that signed the root."""
        recovery = self.signature[64]
        signature = self.signature[:64] + bytes([recovery - 27 if recovery >= 27 else recovery])
        try:
            public = PublicKey.from_signature_and_message(signature, keccak(self.signed_text.encode()), hasher=None)
        except Exception:
            raise EnrError("the root signature does not recover to a key", signature=True) from None
        return public.format(compressed=True)

    def verify(self, compressed_public_key: bytes) -> None:
        if self.signer() != PublicKey(compressed_public_key).format(compressed=True):
            raise EnrError("the root is not signed by the tree's key", signature=True)


def branch_text(hashes: Sequence[str]) -> str:
    return BRANCH_PREFIX + ",".join(hashes)


def parse_branch(text: str) -> list[str]:
    if not text.startswith(BRANCH_PREFIX):
        raise EnrError(f"a branch starts with {BRANCH_PREFIX!r}")
    body = text[len(BRANCH_PREFIX) :]
    hashes = body.split(",") if body else []
    for label in hashes:
        if not _B32_HASH.match(label):
            raise EnrError(f"{label[:30]!r} is not a base32 entry hash")
    return hashes


@dataclass(frozen=True)
class EnrTree:
    """A signed EIP-1459 tree: the root and every entry by its hash label."""

    root: Root
    entries: Mapping[str, str]
    """hash label -> entry text (branches, ``enr:`` leaves, ``enrtree://`` links)."""

    @classmethod
    def build(
        cls,
        records: Iterable[Enr],
        links: Iterable[str],
        seq: int,
        key: NodeKey,
        max_children: int = MAX_BRANCH_CHILDREN,
    ) -> EnrTree:
        """A tree holding ``records`` (sorted by node id, so the same set gives the same tree) and ``links``."""
        if not 2 <= max_children <= MAX_BRANCH_CHILDREN:
            raise EnrError(f"max_children must be 2-{MAX_BRANCH_CHILDREN} so a branch fits one TXT string")
        entries: dict[str, str] = {}
        leaves = [r.text for r in sorted(records, key=lambda r: r.node_id)]
        for link in links:
            parse_link(link)
        link_texts = sorted(set(links))
        enr_root = _subtree(leaves, entries, max_children)
        link_root = _subtree(link_texts, entries, max_children)
        return cls(Root.sign(enr_root, link_root, seq, key), entries)

    def txt_records(self, domain: str) -> dict[str, str]:
        """fqdn (no trailing dot) -> TXT text: the root at ``domain``, every entry at ``<hash>.<domain>``."""
        domain = domain.rstrip(".")
        records = {domain: self.root.text}
        records.update({f"{label}.{domain}": text for label, text in self.entries.items()})
        return records

    @classmethod
    def resolve(cls, link: str, lookup: Mapping[str, str] | Any) -> tuple[EnrTree, list[Enr], list[str]]:
        """Read a tree back from TXT texts (``lookup(fqdn) -> text`` or a mapping) as a client does: verify the
        root signature against the link's key and every entry against its hash; returns (tree, records, links)."""
        key, domain = parse_link(link)
        get = lookup.get if isinstance(lookup, Mapping) else lookup
        root_text = get(domain)
        if root_text is None:
            raise EnrError(f"no TXT record at {domain}")
        root = Root.parse(root_text)
        root.verify(key)
        entries: dict[str, str] = {}
        records: list[Enr] = []
        links: list[str] = []
        seen: dict[str, set[str]] = {"enr": set(), "link": set()}

        def walk(label: str, allowed: str, depth: int) -> None:
            if depth > 64:
                raise EnrError("tree deeper than 64 levels")
            if label in seen[allowed]:
                return  # shared subtrees (e.g. the empty branch as both roots) are read once
            seen[allowed].add(label)
            text = get(f"{label}.{domain}")
            if text is None:
                raise EnrError(f"missing entry {label}.{domain}")
            if entry_hash(text)[: len(label)] != label:
                raise EnrError(f"entry {label} does not match its hash")
            entries[label] = text
            if text.startswith(BRANCH_PREFIX):
                for child in parse_branch(text):
                    walk(child, allowed, depth + 1)
            elif allowed == "enr" and text.startswith(ENR_PREFIX):
                records.append(Enr.from_text(text))
            elif allowed == "link" and text.startswith(LINK_PREFIX):
                parse_link(text)
                links.append(text)
            else:
                raise EnrError(f"entry {label} is not allowed in the {allowed} subtree")

        walk(root.enr_root, "enr", 0)
        walk(root.link_root, "link", 0)
        return cls(root, entries), records, links


def _subtree(leaves: list[str], entries: dict[str, str], max_children: int) -> str:
    """Add ``leaves`` and the branches above them to ``entries``; the hash of the subtree's top entry."""
    level = []
    for text in leaves:
        label = entry_hash(text)
        entries[label] = text
        level.append(label)
    if len(level) == 1:
        return level[0]
    while True:
        groups = [level[i : i + max_children] for i in range(0, len(level), max_children)] or [[]]
        level = []
        for group in groups:
            text = branch_text(group)
            label = entry_hash(text)
            entries[label] = text
            level.append(label)
        if len(level) == 1:
            return level[0]
