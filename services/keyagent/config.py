"""The agent's configuration: where the node's secret is, and where the keys go. Nothing here is a credential.

Every setting is a flag and an environment variable (``LACCHAIN_KEYAGENT_<NAME>``), because an init container is
configured with env and a systemd unit with an ``EnvironmentFile``. OrionKeyVault outputs these variables per
node (``agentEnv``). Credentials are never configuration: each backend authenticates with the platform identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

from lacchain.errors import FieldProblem, InvalidInput
from lacchain.layout import SECRETS_DIR
from services.keyagent.stores.gcp import API as GCP_API
from services.keyagent.stores.gcp import SECRET_NAME as GCP_SECRET_NAME
from services.keyagent.stores.http import KUBERNETES_CA_FILE, KUBERNETES_TOKEN_FILE

ENV_PREFIX = "LACCHAIN_KEYAGENT_"
BACKENDS = ("aws", "gcp", "vault", "kubernetes")
URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


@dataclass(frozen=True)
class AgentConfig:
    backend: str
    secret: str
    """aws: secret name or ARN; gcp: projects/P/secrets/S; vault: path inside the KV engine; kubernetes: name."""
    output_dir: Path = Path(SECRETS_DIR)
    allow_create: bool = True
    allow_persistent_dir: bool = False
    retry_attempts: int = 6
    tessera_config: Path | None = None
    """The rendered Tessera configuration; the agent writes a copy listing every key version (tm_config)."""
    orion_config: Path | None = None
    """The rendered orion.conf; the agent writes a copy listing every key version (tm_config)."""
    # AWS
    region: str | None = None
    endpoint_url: str | None = None
    kms_key_id: str | None = None
    tessera_native: bool = False
    tessera_endpoint: str | None = None
    # GCP
    gcp_metadata_host: str = "metadata.google.internal"
    gcp_api: str = GCP_API
    # HashiCorp Vault
    vault_addr: str | None = None
    vault_role: str | None = None
    vault_auth_mount: str = "kubernetes"
    vault_kv_mount: str = "secret"
    vault_namespace: str | None = None
    vault_ca_file: str | None = None
    # Kubernetes
    namespace: str | None = None
    mount_dir: Path | None = None
    kubernetes_api: str = "https://kubernetes.default.svc"
    kubernetes_ca_file: str = KUBERNETES_CA_FILE
    token_file: str = KUBERNETES_TOKEN_FILE

    def validate(self) -> AgentConfig:
        """Return self, or raise ``InvalidInput`` listing every problem with the flag/variable to fix."""
        problems: list[FieldProblem] = []

        def problem(name: str, text: str, fix: str) -> None:
            problems.append(FieldProblem(field_label(name), text, fix))

        if self.backend not in BACKENDS:
            problem("backend", f"{self.backend!r} is not a backend", f"use one of {', '.join(BACKENDS)}")
        if not self.secret:
            problem("secret", "is required", "set the node's secret reference (OrionKeyVault output secretRef)")
        if self.retry_attempts < 1:
            problem("retry_attempts", f"{self.retry_attempts} is below 1", "use 1 or more")
        if self.tessera_config and self.orion_config:
            problem("orion_config", "is set together with --tessera-config", "a node runs one transaction manager")
        if self.tessera_native and self.orion_config:
            problem("orion_config", "cannot use --tessera-native", "Orion reads keys from files only; remove one")
        if self.tessera_native and self.backend != "aws":
            problem("tessera_native", f"is only for the aws backend, not {self.backend}", "remove it")
        for name in ("endpoint_url", "tessera_endpoint", "gcp_api", "vault_addr", "kubernetes_api"):
            value = getattr(self, name)
            if value and not URL.match(value):
                problem(name, f"{value!r} is not an http(s) URL", "give a URL like https://host:port")
        if self.backend == "gcp" and self.secret and not GCP_SECRET_NAME.match(self.secret):
            problem("secret", f"{self.secret!r} is not projects/<project>/secrets/<id>", "use the full secret name")
        if self.backend == "vault":
            for name in ("vault_addr", "vault_role"):
                if not getattr(self, name):
                    problem(name, "is required for the vault backend", "set it (OrionKeyVault agentEnv has it)")
        if self.backend == "kubernetes" and not self.namespace:
            problem("namespace", "is required for the kubernetes backend", "set the node's namespace")
        if problems:
            raise InvalidInput(problems, "key agent configuration")
        return self


def field_label(name: str) -> str:
    """How a setting is spelled for the user: ``--vault-role (LACCHAIN_KEYAGENT_VAULT_ROLE)``."""
    return f"--{name.replace('_', '-')} ({ENV_PREFIX}{name.upper()})"


SETTINGS = tuple(f.name for f in fields(AgentConfig))
