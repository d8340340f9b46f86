"""HashiCorp Vault store: a KV version 2 secret, reached with Vault's Kubernetes auth method.

The pod's service account token (a JWT Vault verifies with the cluster's TokenReview API) is exchanged for a Vault
token at ``POST /v1/auth/<mount>/login``; the Vault token lives in memory only, for this one run.

KV v2 gives real compare-and-swap: a write with ``options.cas = 0`` succeeds only if the path has no version,
and ``options.cas = N`` only if the current version is N. First boot writes with ``cas=0`` (one racer wins, the
others get "check-and-set parameter did not match" and read the winner); rotation writes with the version it
read. The document is stored in the field ``document`` of the secret's data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from services.keyagent.errors import (
    AccessDenied,
    ConfigError,
    CorruptKeyValue,
    KeyAgentError,
    KeyMissing,
    StoreConflict,
)
from services.keyagent.retry import RetryPolicy
from services.keyagent.stores import StoredValue
from services.keyagent.stores.http import KUBERNETES_TOKEN_FILE, RETRYABLE_STATUS, json_body, read_token_file, send

FIELD = "document"
PATH_PART = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
# 412: a performance standby has not caught up with a write yet (Vault's eventual consistency); retry.
VAULT_RETRY_STATUS = RETRYABLE_STATUS | {412}


class VaultKubernetesLogin:
    """Logs in with the service account token; ``role`` is the Vault role bound to that service account."""

    def __init__(self, role: str, mount: str = "kubernetes", token_file: str = KUBERNETES_TOKEN_FILE) -> None:
        if not role:
            raise ConfigError(
                "vault role is empty; set the Vault Kubernetes-auth role bound to the node's service account"
            )
        self.role = role
        self.mount = mount.strip("/")
        self.token_file = Path(token_file)


class VaultKvStore:
    """``path`` is the secret path inside the KV v2 engine mounted at ``kv_mount`` (e.g. lacchain/m/node/tm-keys)."""

    def __init__(
        self,
        client: httpx.Client,
        login: VaultKubernetesLogin,
        path: str,
        kv_mount: str = "secret",
        namespace: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        for name, value in (("vault path", path), ("vault KV mount", kv_mount)):
            if not PATH_PART.match(value.strip("/")):
                raise ConfigError(f"{name} {value!r} is not a Vault path; use segments of letters, digits, . _ -")
        self._client = client
        self._login = login
        self._path = path.strip("/")
        self._mount = kv_mount.strip("/")
        self._namespace = namespace
        self._retry = retry or RetryPolicy()
        self._token = ""

    @property
    def reference(self) -> str:
        return f"vault:{self._mount}/{self._path}"

    @property
    def _data_url(self) -> str:
        return f"/v1/{self._mount}/data/{self._path}"

    def read(self) -> StoredValue | None:
        response = self._send("GET", self._data_url, "read")
        if response.status_code == 404:
            return None  # never written, or its latest version was deleted (then create's CAS explains)
        self._raise_for(response, "read")
        data = json_body(response).get("data") or {}
        fields, metadata = data.get("data"), data.get("metadata") or {}
        if not isinstance(fields, dict):
            return None  # latest version deleted/destroyed: no readable value
        text = fields.get(FIELD)
        if not isinstance(text, str):
            raise CorruptKeyValue(f"{self.reference} has no string field {FIELD!r}; restore a good version of it")
        return StoredValue(text, str(metadata.get("version", "")))

    def create(self, text: str) -> bool:
        return self._write(text, cas=0, action="create")

    def replace(self, text: str, expected: StoredValue) -> None:
        if not self._write(text, cas=int(expected.version), action="rotate"):
            raise StoreConflict(f"{self.reference} changed while rotating; run the rotation again")

    def _write(self, text: str, cas: int, action: str) -> bool:
        body = {"options": {"cas": cas}, "data": {FIELD: text}}
        response = self._send("POST", self._data_url, action, json=body)
        if response.status_code == 400 and _is_cas_mismatch(response):
            return False
        self._raise_for(response, action)
        return True

    # -- transport ----------------------------------------------------------------------------------------------

    def _vault_token(self) -> str:
        if not self._token:
            jwt = read_token_file(self._login.token_file)
            response = send(
                self._client,
                "POST",
                f"/v1/auth/{self._login.mount}/login",
                f"Vault login at auth/{self._login.mount}",
                self._retry,
                retry_status=VAULT_RETRY_STATUS,
                json={"role": self._login.role, "jwt": jwt},
                headers=self._namespace_header(),
            )
            token = (json_body(response).get("auth") or {}).get("client_token")
            if response.status_code != 200 or not isinstance(token, str):
                raise AccessDenied(
                    f"Vault refused the Kubernetes login (HTTP {response.status_code}) for role "
                    f"{self._login.role!r} at auth/{self._login.mount}: bind that role to the node's service "
                    "account name and namespace, and make sure Vault can review the cluster's tokens"
                )
            self._token = token
        return self._token

    def _namespace_header(self) -> dict[str, str]:
        return {"X-Vault-Namespace": self._namespace} if self._namespace else {}

    def _send(self, method: str, url: str, action: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Vault-Token": self._vault_token(), **self._namespace_header()}
        return send(
            self._client,
            method,
            url,
            f"Vault {action} of {self.reference}",
            self._retry,
            retry_status=VAULT_RETRY_STATUS,
            headers=headers,
            **kwargs,
        )

    def _raise_for(self, response: httpx.Response, action: str) -> None:
        if response.status_code < 300:
            return
        if response.status_code == 403:
            raise AccessDenied(
                f"Vault denied {action} of {self.reference}: the policy of role {self._login.role!r} needs "
                f'path "{self._mount}/data/{self._path}" {{ capabilities = ["create", "read", "update"] }} '
                "(update too: a racing agent's check-and-set write to an existing path is an update)"
            )
        if response.status_code == 404:
            raise KeyMissing(f"{self.reference} is not reachable; enable a KV v2 engine at {self._mount}/")
        raise KeyAgentError(f"Vault {action} of {self.reference} failed (HTTP {response.status_code})")


def _is_cas_mismatch(response: httpx.Response) -> bool:
    errors = json_body(response).get("errors") or []
    return any("check-and-set" in str(e) for e in errors)
