"""DER -> (v, r, s) conversion of the KMS signer, checked against locally made secp256k1 signatures."""

from __future__ import annotations

import pytest
from coincurve import PrivateKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from lacchain.keys import SECP256K1_ORDER
from services.kms_signer.ecdsa import (
    HALF_ORDER,
    KmsSignerError,
    decode_signature,
    ethereum_signature,
    low_s,
    public_key_from_spki,
    recovery_id,
)

scalars = st.integers(min_value=1, max_value=SECP256K1_ORDER - 1)
digests = st.binary(min_size=32, max_size=32)


def _spki(private: PrivateKey) -> bytes:
    point = private.public_key.format(compressed=False)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), point)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@settings(max_examples=40, deadline=None)
@given(secret=scalars, digest=digests, flip=st.booleans())
def test_any_der_signature_becomes_a_low_s_signature_that_recovers_the_key(
    secret: int, digest: bytes, flip: bool
) -> None:
    private = PrivateKey(secret.to_bytes(32, "big"))
    recoverable = private.sign_recoverable(digest, hasher=None)
    r, s = int.from_bytes(recoverable[:32], "big"), int.from_bytes(recoverable[32:64], "big")
    served_s = SECP256K1_ORDER - s if flip else s  # KMS may return either of the two valid s values
    public = public_key_from_spki(_spki(private))

    v, r_out, s_out = ethereum_signature(digest, encode_dss_signature(r, served_s), public)

    assert public == private.public_key.format(compressed=False)[1:]
    assert (r_out, s_out) == (r, s) and s_out <= HALF_ORDER
    assert bytes([v]) == recoverable[64:]


@given(s=scalars)
def test_low_s_keeps_the_lower_of_s_and_n_minus_s(s: int) -> None:
    normalized = low_s(s)
    assert normalized <= HALF_ORDER
    assert normalized in (s, SECP256K1_ORDER - s)


@given(r=scalars, s=scalars)
def test_der_round_trip(r: int, s: int) -> None:
    assert decode_signature(encode_dss_signature(r, s)) == (r, s)


def test_refuses_a_key_on_another_curve() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KmsSignerError, match="ECC_SECG_P256K1"):
        public_key_from_spki(der)


def test_refuses_out_of_range_and_garbage_signatures() -> None:
    with pytest.raises(KmsSignerError, match="outside"):
        decode_signature(encode_dss_signature(SECP256K1_ORDER, 1))
    with pytest.raises(KmsSignerError, match="not DER"):
        decode_signature(b"\x30\x01")


def test_a_signature_by_another_key_has_no_recovery_id() -> None:
    digest = bytes(range(32))
    signer, other = PrivateKey(), PrivateKey()
    signature = signer.sign_recoverable(digest, hasher=None)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    with pytest.raises(KmsSignerError, match="does not verify"):
        recovery_id(digest, r, s, other.public_key.format(compressed=False)[1:])
