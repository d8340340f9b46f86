"""``build``: each backend's store is wired to the platform identity and the configured trust, from settings only."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.keyagent.build import build
from services.keyagent.cli import parse_config
from services.keyagent.errors import ConfigError
from services.keyagent.stores.aws import SecretsManagerStore
from services.keyagent.stores.gcp import GcpSecretManagerStore
from services.keyagent.stores.kubernetes import KubernetesSecretStore
from services.keyagent.stores.vault import VaultKvStore
from services.keyagent.tessera_native import AwsTesseraMirror
from tests.services.keyagent.test_keyagent_document import tls_pair


@pytest.fixture()
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.crt"
    path.write_text(tls_pair().certificate_pem)  # a real PEM certificate, as the kubelet mounts ca.crt
    return path


def test_each_backend_gets_its_store(ca_file: Path) -> None:
    aws = build(parse_config(["--backend", "aws", "--secret", "s", "--region", "us-east-1", "--tessera-native"], {}))
    gcp = build(parse_config(["--backend", "gcp", "--secret", "projects/p/secrets/s"], {}))
    vault = build(
        parse_config(
            [
                "--backend",
                "vault",
                "--secret",
                "a/b",
                "--vault-addr",
                "https://vault:8200",
                "--vault-role",
                "r",
                "--vault-ca-file",
                str(ca_file),
            ],
            {},
        )
    )
    kubernetes = build(
        parse_config(
            [
                "--backend",
                "kubernetes",
                "--secret",
                "w-tm-keys",
                "--namespace",
                "ns",
                "--kubernetes-ca-file",
                str(ca_file),
            ],
            {},
        )
    )
    assert isinstance(aws.store, SecretsManagerStore) and isinstance(aws.tessera, AwsTesseraMirror)
    assert isinstance(gcp.store, GcpSecretManagerStore) and gcp.tessera is None
    assert isinstance(vault.store, VaultKvStore) and vault.store.reference == "vault:secret/a/b"
    assert isinstance(kubernetes.store, KubernetesSecretStore)


def test_an_unreadable_ca_is_a_configuration_error(tmp_path: Path) -> None:
    config = parse_config(
        [
            "--backend",
            "kubernetes",
            "--secret",
            "w-tm-keys",
            "--namespace",
            "ns",
            "--kubernetes-ca-file",
            str(tmp_path / "missing.crt"),
        ],
        {},
    )
    with pytest.raises(ConfigError) as refused:
        build(config)
    assert "--kubernetes-ca-file (LACCHAIN_KEYAGENT_KUBERNETES_CA_FILE)" in str(refused.value)
    assert refused.value.exit_code == 2
