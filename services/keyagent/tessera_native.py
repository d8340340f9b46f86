"""Tessera's native AWS Secrets Manager key vault, fed from the node's key document.

Tessera can read its key pairs straight from Secrets Manager (``keyVaultType: AWS``), but only in its own shape:
two secrets per pair whose ``SecretString`` is the bare base64 key. The agent's document (one secret, all
versions) stays the source of truth; with ``--tessera-native`` the agent mirrors every version into
``<secret>/tessera/<fingerprint>/pub`` and ``.../key`` (create-if-absent, same KMS key) and writes a
``tm-keys.json`` that points Tessera at them. The node's disk then never holds a private key, not even in tmpfs.
The node's IAM policy from OrionKeyVault already covers the ``<secret>/tessera/`` prefix and nothing else.
"""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from lacchain.tm.tessera_vault import aws_key_data, aws_key_vault_config, aws_native_pair_ids, keys_section
from services.keyagent.document import KeyDocument
from services.keyagent.errors import CorruptKeyValue
from services.keyagent.stores.aws import SecretsManagerStore


class AwsTesseraMirror:
    """Publishes a document's versions as Tessera-native secrets next to the node's secret."""

    def __init__(self, store: SecretsManagerStore, kms_key_id: str | None, endpoint: str | None) -> None:
        self._store = store
        self._client = store.client
        self._kms_key_id = kms_key_id
        self._endpoint = endpoint

    def publish(self, document: KeyDocument) -> dict[str, Any]:
        """Ensure the mirror secrets exist with the right values; return Tessera's ``keys`` section for them."""
        secret_name = self._secret_name()
        pairs = []
        for version in document.versions:
            ids = aws_native_pair_ids(secret_name, version.pair.public_key_b64)
            self._ensure(ids.public_key_id, version.pair.public_key_b64)
            self._ensure(ids.private_key_id, version.pair.private_key_b64)
            pairs.append(ids)
        return keys_section(aws_key_data(pairs), [aws_key_vault_config(self._endpoint)])

    def _secret_name(self) -> str:
        reference = self._store.reference
        if not reference.startswith("arn:"):
            return reference
        described = self._store.call("DescribeSecret", lambda: self._client.describe_secret(SecretId=reference))
        return str(described["Name"])

    def _ensure(self, name: str, value: str) -> None:
        extra: dict[str, Any] = {"KmsKeyId": self._kms_key_id} if self._kms_key_id else {}
        token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"lacchain-keyagent:tessera:{name}"))
        try:
            self._store.call(
                "CreateSecret",
                lambda: self._client.create_secret(
                    Name=name,
                    SecretString=value,
                    ClientRequestToken=token,
                    Description="LACChain Tessera key (mirror of the node's key document, written by the key agent)",
                    **extra,
                ),
            )
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise self._store.translate(exc, "CreateSecret") from None
        existing = self._store.call("GetSecretValue", lambda: self._client.get_secret_value(SecretId=name))
        if existing.get("SecretString") != value:
            raise CorruptKeyValue(
                f"the Tessera key secret {name} holds a different key than the node's key document; delete it "
                "(`aws secretsmanager delete-secret --force-delete-without-recovery`) and restart the agent"
            )
