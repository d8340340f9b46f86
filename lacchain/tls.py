"""X.509 building blocks shared by every certificate the project makes: the transaction managers' CA and node
certificates (``lacchain.ddns.certificate``) and nginx's self-signed RPC certificate (``services/keyagent``).

One definition of the key usages and PEM encodings, so a CA and the certificates it signs never disagree on them.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def key_usage(*, certificate_authority: bool = False, key_agreement: bool = False) -> x509.KeyUsage:
    """ECDSA keys sign (TLS handshakes); a CA's key also signs certificates and revocation lists; a transaction
    manager's key also agrees keys (ECDH). Nothing else."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=certificate_authority,
        crl_sign=certificate_authority,
        encipher_only=False,
        decipher_only=False,
    )


def certificate_to_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def private_key_to_pem(key: ec.EllipticCurvePrivateKey) -> str:
    """PKCS#8, unencrypted: the files live on memory volumes and in secret stores, which do the protecting."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
