"""The stored key document: round trip, validation, and errors that never show key material."""

from __future__ import annotations

import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lacchain.keys import NodeKey
from lacchain.tm.keys import TmKeyPair
from services.keyagent.document import KeyDocument, TlsPair
from services.keyagent.errors import CorruptKeyValue
from tests.services.keyagent.conftest import assert_no_key_material


def tls_pair() -> TlsPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "writer-1.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return TlsPair(pem, key_pem)


def test_round_trip_keeps_every_version_and_extra() -> None:
    document = KeyDocument(KeyDocument.new().current, node_key=NodeKey.generate(), tls=tls_pair()).rotated().rotated()
    assert KeyDocument.parse(document.serialize(), "t") == document
    assert [v.pair for v in document.versions][1:] == [v.pair for v in document.previous]


def test_repr_never_shows_private_keys() -> None:
    document = KeyDocument(KeyDocument.new().current, node_key=NodeKey.generate(), tls=tls_pair())
    text = repr(document)
    assert_no_key_material(text, document)
    assert "PRIVATE KEY" not in text


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(format="other/9"), "format"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d["current"].update(publicKey=TmKeyPair.generate().public_key_b64), "current.publicKey"),
        (lambda d: d["current"].update(privateKey="AAAA"), "current.privateKey"),
        (lambda d: d.update(previous=[d["current"]]), "previous"),
        (lambda d: d.update(nodeKey="0x1234"), "nodeKey"),
        (lambda d: d.update(tls={"certificate": "x", "privateKey": "y"}), "tls.certificate"),
    ],
)
def test_invalid_documents_name_the_field_and_hide_the_keys(mutate: object, field: str) -> None:
    document = KeyDocument(KeyDocument.new().current, node_key=NodeKey.generate())
    raw = json.loads(document.serialize())
    mutate(raw)  # type: ignore[operator]
    with pytest.raises(CorruptKeyValue) as refused:
        KeyDocument.parse(json.dumps(raw), "lacchain/m/n/tm-keys")
    assert field in str(refused.value) and "lacchain/m/n/tm-keys" in str(refused.value)
    assert_no_key_material(str(refused.value), document)


def test_tls_key_of_another_certificate_is_refused() -> None:
    one, other = tls_pair(), tls_pair()
    raw = json.loads(KeyDocument.new().serialize())
    raw["tls"] = {"certificate": one.certificate_pem, "privateKey": other.private_key_pem}
    with pytest.raises(CorruptKeyValue, match=r"does not belong to tls\.certificate"):
        KeyDocument.parse(json.dumps(raw), "t")
