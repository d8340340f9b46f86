"""Turn a validated ``AgentConfig`` into a store wired to the platform identity (the only place clients are made).

Also what ``lacchain keys rotate`` uses with the operator's own credentials: the same store, another identity.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx

from services.keyagent.agent import TesseraPublisher
from services.keyagent.config import AgentConfig, field_label
from services.keyagent.errors import ConfigError
from services.keyagent.retry import RetryPolicy
from services.keyagent.stores import KeyStore
from services.keyagent.stores.aws import SecretsManagerStore, secrets_manager_client
from services.keyagent.stores.gcp import GcpSecretManagerStore
from services.keyagent.stores.http import BearerTokenFile, GcpMetadataToken
from services.keyagent.stores.kubernetes import KubernetesSecretStore
from services.keyagent.stores.vault import VaultKubernetesLogin, VaultKvStore
from services.keyagent.tessera_native import AwsTesseraMirror

TIMEOUT = httpx.Timeout(15.0, connect=5.0)


def _trust(ca_file: str | None, setting: str) -> ssl.SSLContext | bool:
    """TLS verification against ``ca_file`` (the cluster's or Vault's CA), or the system roots if none is given."""
    if not ca_file:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError):
        raise ConfigError(
            f"{field_label(setting)}: cannot read a PEM CA certificate from {ca_file}; in a pod the service "
            "account's ca.crt is mounted with its token, elsewhere point the setting at the right CA file"
        ) from None


@dataclass(frozen=True)
class Wiring:
    store: KeyStore
    tessera: TesseraPublisher | None = None


def build(config: AgentConfig) -> Wiring:
    config.validate()
    retry = RetryPolicy(attempts=config.retry_attempts)
    if config.backend == "aws":
        client = secrets_manager_client(config.region, config.endpoint_url)
        aws_store = SecretsManagerStore(client, config.secret, config.kms_key_id, retry)
        mirror = (
            AwsTesseraMirror(aws_store, config.kms_key_id, config.tessera_endpoint) if config.tessera_native else None
        )
        return Wiring(aws_store, mirror)
    if config.backend == "gcp":
        metadata = httpx.Client(timeout=TIMEOUT)
        session = httpx.Client(auth=GcpMetadataToken(metadata, config.gcp_metadata_host, retry), timeout=TIMEOUT)
        return Wiring(GcpSecretManagerStore(session, config.secret, config.gcp_api, retry))
    if config.backend == "vault":
        assert config.vault_addr is not None and config.vault_role is not None  # validate() checked
        client = httpx.Client(
            base_url=config.vault_addr, verify=_trust(config.vault_ca_file, "vault_ca_file"), timeout=TIMEOUT
        )
        login = VaultKubernetesLogin(config.vault_role, config.vault_auth_mount, config.token_file)
        return Wiring(VaultKvStore(client, login, config.secret, config.vault_kv_mount, config.vault_namespace, retry))
    assert config.namespace is not None  # validate() checked
    client = httpx.Client(
        base_url=config.kubernetes_api,
        verify=_trust(config.kubernetes_ca_file, "kubernetes_ca_file"),
        auth=BearerTokenFile(config.token_file),
        timeout=TIMEOUT,
    )
    return Wiring(KubernetesSecretStore(client, config.namespace, config.secret, config.mount_dir, retry))
