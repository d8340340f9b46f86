"""TLS certificates of a node's private transaction manager (Orion/Tessera), reissued when its address changes.

The transaction managers of a LACChain network trust each other through the network CA (Orion ``tls="strict"``
with CA-based trust; Tessera ``CA`` trust mode), and a peer checks that the certificate names the address it
connected to. So when a node's public IP changes, the DDNS function issues a new server certificate whose
subjectAltName holds the node's DNS name and new IP, signed by the network CA. Pure: ``cryptography`` only.

Keys are ECDSA P-256. The node's private key is kept across reissues when the caller passes it back, so only the
certificate changes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lacchain.errors import LacchainError
from lacchain.tls import certificate_to_pem, key_usage, private_key_to_pem

DEFAULT_DAYS = 365
CA_DAYS = 3650
BACKDATE = dt.timedelta(minutes=5)
"""Certificates start a little in the past so a peer with a slightly slow clock accepts them at once."""


class CertificateError(LacchainError, ValueError):
    """A CA or key that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class KeyAndCertificate:
    certificate_pem: str
    private_key_pem: str

    def to_json(self, **extra: Any) -> str:
        return json.dumps({"certificate": self.certificate_pem, "privateKey": self.private_key_pem, **extra})

    @classmethod
    def from_json(cls, text: str, what: str) -> KeyAndCertificate:
        try:
            document = json.loads(text)
            return cls(str(document["certificate"]), str(document["privateKey"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise CertificateError(f'{what} must be JSON {{"certificate": "<PEM>", "privateKey": "<PEM>"}}') from None

    def certificate(self) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self.certificate_pem.encode())
        except ValueError as exc:
            raise CertificateError(f"not a PEM certificate ({exc})") from None

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        return load_private_key(self.private_key_pem)


def load_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("expected an EC private key")
    return key


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)


def new_ca(common_name: str, days: int = CA_DAYS, now: dt.datetime | None = None) -> KeyAndCertificate:
    """A self-signed network CA (the member stacks create it once; tests and on-prem setups use this)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = _now(now) - BACKDATE
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage(certificate_authority=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyAndCertificate(certificate_to_pem(certificate), private_key_to_pem(key))


def issue_server_certificate(
    ca: KeyAndCertificate,
    fqdn: str,
    host: str,
    *,
    private_key_pem: str | None = None,
    days: int = DEFAULT_DAYS,
    now: dt.datetime | None = None,
) -> KeyAndCertificate:
    """A TM TLS certificate for ``fqdn`` at ``host`` (subjectAltName: the DNS name and the IP), signed by ``ca``.

    Usable as server and client certificate (transaction managers authenticate each other both ways). Reuses
    ``private_key_pem`` when given, otherwise makes a new P-256 key.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise CertificateError(f"{host!r} is not an IP address") from None
    ca_certificate = ca.certificate()
    ca_key = ca.private_key()
    if ca_key.public_key().public_numbers() != ca_certificate.public_key().public_numbers():  # type: ignore[union-attr]
        raise CertificateError("the CA private key does not belong to the CA certificate")
    key = load_private_key(private_key_pem) if private_key_pem else ec.generate_private_key(ec.SECP256R1())
    start = _now(now) - BACKDATE
    end = min(start + dt.timedelta(days=days), ca_certificate.not_valid_after_utc)
    if end <= start:
        raise CertificateError("the CA certificate has expired; renew the network CA")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(fqdn), x509.IPAddress(address)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            key_usage(key_agreement=True),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyAndCertificate(certificate_to_pem(certificate), private_key_to_pem(key))
