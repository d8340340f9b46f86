"""From what AWS KMS returns to what Ethereum needs: DER in, (v, r, s) out.

KMS speaks X.509/ASN.1: ``GetPublicKey`` returns a DER SubjectPublicKeyInfo and ``Sign`` a DER ECDSA-Sig-Value
with an arbitrary ``s``. Ethereum wants the raw 64-byte public key (for the address), ``s`` in the lower half of
the curve order (EIP-2: a high ``s`` is rejected as malleable), and a recovery id ``v`` that KMS does not give,
found by recovering the public key for both candidates and keeping the one that matches KMS's key.
"""

from __future__ import annotations

from coincurve import PublicKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from lacchain.errors import LacchainError
from lacchain.keys import SECP256K1_ORDER

HALF_ORDER = SECP256K1_ORDER // 2


class KmsSignerError(LacchainError):
    """A KMS key or signature that cannot sign Ethereum transactions; the message names the fix."""


def public_key_from_spki(der: bytes) -> bytes:
    """The 64-byte uncompressed secp256k1 public key (no 0x04 prefix) inside a DER SubjectPublicKeyInfo."""
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        raise KmsSignerError("the KMS public key is not a DER SubjectPublicKeyInfo") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256K1):
        raise KmsSignerError(
            "the KMS key is not on secp256k1: create it with KeySpec=ECC_SECG_P256K1 and KeyUsage=SIGN_VERIFY"
        )
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[1:]


def decode_signature(der: bytes) -> tuple[int, int]:
    """(r, s) of a DER ECDSA signature, both checked to be in [1, n-1]."""
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        raise KmsSignerError("KMS returned a signature that is not DER ECDSA-Sig-Value") from None
    if not (0 < r < SECP256K1_ORDER and 0 < s < SECP256K1_ORDER):
        raise KmsSignerError("KMS returned a signature with r or s outside the secp256k1 order")
    return r, s


def low_s(s: int) -> int:
    """EIP-2 canonical form: ``s`` and ``n - s`` are both valid; Ethereum accepts only the one <= n/2."""
    return SECP256K1_ORDER - s if s > HALF_ORDER else s


def recovery_id(digest: bytes, r: int, s: int, public_key: bytes) -> int:
    """The ``v`` (0 or 1) for which (r, s) recovers ``public_key`` (64 bytes) over ``digest``."""
    for v in (0, 1):
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
        try:
            recovered = PublicKey.from_signature_and_message(signature, digest, hasher=None)
        except Exception:  # coincurve raises plain Exception for points that do not exist
            continue
        if recovered.format(compressed=False)[1:] == public_key:
            return v
    raise KmsSignerError("the KMS signature does not verify against the KMS public key for this digest")


def ethereum_signature(digest: bytes, der_signature: bytes, public_key: bytes) -> tuple[int, int, int]:
    """(v, r, s) with v in {0, 1} and low s, from a DER signature over ``digest`` by ``public_key``."""
    if len(digest) != 32:
        raise KmsSignerError("sign a 32-byte digest")
    r, s = decode_signature(der_signature)
    s = low_s(s)
    return recovery_id(digest, r, s, public_key), r, s
