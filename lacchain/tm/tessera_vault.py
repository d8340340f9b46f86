"""Tessera's ``keys`` configuration section for keys that live outside the config file.

Tessera reads its key pairs either from files (``keyData[].publicKeyPath``/``privateKeyPath``) or natively from a
key vault (``keys.keyVaultConfigs`` plus vault-specific ``keyData`` entries). Both shapes are rendered here as plain
dictionaries so the Pulumi component (which knows the vault) and the key agent (which knows how many key versions
exist) produce the same JSON without either importing the other.

Shapes follow Tessera's configuration reference: ``keyVaultConfigs[]`` entries carry ``keyVaultType`` (``AWS``,
``AZURE`` or ``HASHICORP``) and string ``properties``; an AWS Secrets Manager key pair is one ``keyData`` entry
with ``awsSecretsManagerPublicKeyId`` and ``awsSecretsManagerPrivateKeyId``, each naming a secret whose
``SecretString`` is the base64 key (what ``tessera -keygen -keygenvaulttype AWS`` stores). Some how-to pages spell
the type field ``keyVaultConfigType``; Tessera's config class (``DefaultKeyVaultConfig``) binds ``keyVaultType``,
which is what is rendered here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lacchain.errors import InvalidInput

AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")


@dataclass(frozen=True)
class AwsKeyPairIds:
    """The two Secrets Manager secret ids Tessera reads one key pair from."""

    public_key_id: str
    private_key_id: str


@dataclass(frozen=True)
class KeyFilePaths:
    """Where a key pair's ``.pub`` and ``.key`` files are (on the memory-backed secrets directory)."""

    public_key_path: str
    private_key_path: str


def secrets_manager_endpoint(region: str) -> str:
    """The regional Secrets Manager endpoint Tessera's AWS SDK client should use (must match ``AWS_REGION``)."""
    if not AWS_REGION.match(region):
        raise InvalidInput.single("region", f"{region!r} is not an AWS region", "use a region like 'us-east-1'")
    return f"https://secretsmanager.{region}.amazonaws.com"


def aws_key_vault_config(endpoint: str | None = None) -> dict[str, Any]:
    """One ``keys.keyVaultConfigs[]`` entry for AWS Secrets Manager.

    ``endpoint`` is optional in Tessera (the SDK then uses its region chain); give it to pin the region.
    """
    properties = {"endpoint": endpoint} if endpoint else {}
    return {"keyVaultType": "AWS", "properties": properties}


def aws_key_data(pairs: Sequence[AwsKeyPairIds]) -> list[dict[str, str]]:
    """``keys.keyData[]`` entries for key pairs stored natively in AWS Secrets Manager, first pair first."""
    return [
        {"awsSecretsManagerPublicKeyId": p.public_key_id, "awsSecretsManagerPrivateKeyId": p.private_key_id}
        for p in pairs
    ]


def file_key_data(pairs: Sequence[KeyFilePaths]) -> list[dict[str, str]]:
    """``keys.keyData[]`` entries for key pairs kept in files (``nodeKey.pub``/``nodeKey.key`` format)."""
    return [{"publicKeyPath": p.public_key_path, "privateKeyPath": p.private_key_path} for p in pairs]


def keys_section(key_data: list[dict[str, str]], vault_configs: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Tessera's whole ``keys`` object. Tessera refuses an empty ``keyData``, so this does too."""
    if not key_data:
        raise InvalidInput.single("keys.keyData", "is empty", "give at least one key pair")
    section: dict[str, Any] = {"keyData": key_data}
    if vault_configs:
        section["keyVaultConfigs"] = list(vault_configs)
    return section


def public_key_fingerprint(public_key_b64: str) -> str:
    """A short, stable, name-safe label for one key version: 16 hex digits of SHA-256 of the public key text.

    Secret names cannot hold base64's ``+``/``=`` reliably across clouds, and a label derived from the key (not
    from a counter) means two agents publishing the same version always pick the same names.
    """
    return hashlib.sha256(public_key_b64.encode()).hexdigest()[:16]


def aws_native_pair_ids(secret_name: str, public_key_b64: str) -> AwsKeyPairIds:
    """Names of the two Tessera-native secrets mirroring one key version of the node secret ``secret_name``.

    They live under ``<secret_name>/tessera/<fingerprint>/`` so the node's IAM policy can grant them with one
    prefix and no other node's secrets.
    """
    if not SECRET_NAME.match(secret_name):
        raise InvalidInput.single(
            "secretName", f"{secret_name!r} is not a Secrets Manager secret name", "use letters, digits and /_+=.@-"
        )
    base = f"{secret_name}/tessera/{public_key_fingerprint(public_key_b64)}"
    return AwsKeyPairIds(public_key_id=f"{base}/pub", private_key_id=f"{base}/key")


def aws_native_prefix(secret_name: str) -> str:
    """The name prefix every Tessera-native mirror secret of ``secret_name`` starts with."""
    return f"{secret_name}/tessera/"
