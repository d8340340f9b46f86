"""Ethereum transaction signing with AWS KMS ``ECC_SECG_P256K1`` keys (the private key never leaves KMS)."""

from services.kms_signer.ecdsa import KmsSignerError
from services.kms_signer.signer import KmsSigner

__all__ = ["KmsSigner", "KmsSignerError"]
