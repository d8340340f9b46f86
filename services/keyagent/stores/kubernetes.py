"""Kubernetes Secret store: the node's key document in one Secret of the node's namespace.

On every boot after the first, the Secret is mounted into the agent's init container (a ``secret`` volume with
``optional: true``) and the agent only reads that file: no API call, nothing to authorize. On first boot the
volume is empty, so the agent creates the Secret through the API with its service account token; a concurrent
creator gets HTTP 409 AlreadyExists and reads the winner's value instead.

RBAC cannot limit ``create`` to one Secret name (the name is not known to the authorizer before the object
exists), so OrionKeyVault's Role grants ``create`` on secrets in the namespace and ``get`` on this one name only;
put each node in its own namespace, or accept that its agent could create (not read) other Secrets there.
Kubernetes stores Secrets in etcd unencrypted unless the cluster enables encryption at rest: enable it (a KMS
provider) before trusting a cluster with transaction-manager keys.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any

import httpx

from services.keyagent.errors import AccessDenied, ConfigError, CorruptKeyValue, KeyAgentError, StoreConflict
from services.keyagent.retry import RetryPolicy
from services.keyagent.stores import StoredValue
from services.keyagent.stores.http import json_body, send

DATA_KEY = "tm-keys.json"
MOUNTED = "mounted"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class KubernetesSecretStore:
    """``client``: an ``httpx.Client`` for the API server (base URL, cluster CA, ``BearerTokenFile`` auth)."""

    def __init__(
        self,
        client: httpx.Client,
        namespace: str,
        name: str,
        mount_dir: Path | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        for label, value in (("namespace", namespace), ("secret name", name)):
            if not DNS_SUBDOMAIN.match(value):
                raise ConfigError(f"Kubernetes {label} {value!r} is not a valid object name (lower-case DNS name)")
        self._client = client
        self._namespace = namespace
        self._name = name
        self._mount_dir = mount_dir
        self._retry = retry or RetryPolicy()

    @property
    def reference(self) -> str:
        return f"secret/{self._name} in namespace {self._namespace}"

    @property
    def _collection(self) -> str:
        return f"/api/v1/namespaces/{self._namespace}/secrets"

    def read(self) -> StoredValue | None:
        mounted = self._mounted_file()
        if mounted is not None:
            try:
                return StoredValue(mounted.read_text(), MOUNTED)
            except UnicodeDecodeError:
                raise CorruptKeyValue(f"{self.reference} (mounted at {mounted}) is not UTF-8 text") from None
        return self._get()

    def create(self, text: str) -> bool:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": self._name,
                "namespace": self._namespace,
                "labels": {"app.kubernetes.io/managed-by": "lacchain-keyagent"},
            },
            "data": {DATA_KEY: base64.b64encode(text.encode()).decode()},
        }
        response = self._send("POST", self._collection, "create", json=body)
        if response.status_code == 409:
            return False
        self._raise_for(response, "create")
        return True

    def replace(self, text: str, expected: StoredValue) -> None:
        live = self._get()
        if live is None or (expected.version != MOUNTED and live.version != expected.version):
            raise StoreConflict(f"{self.reference} changed while rotating; run the rotation again")
        if expected.version == MOUNTED and live.text != expected.text:
            raise StoreConflict(f"{self.reference} differs from its mounted copy; run the rotation again")
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": self._name, "namespace": self._namespace, "resourceVersion": live.version},
            "data": {DATA_KEY: base64.b64encode(text.encode()).decode()},
        }
        response = self._send("PUT", f"{self._collection}/{self._name}", "update", json=body)
        if response.status_code == 409:
            raise StoreConflict(f"{self.reference} changed while rotating; run the rotation again")
        self._raise_for(response, "update")

    # -- helpers ------------------------------------------------------------------------------------------------

    def _mounted_file(self) -> Path | None:
        if self._mount_dir is None:
            return None
        candidate = self._mount_dir / DATA_KEY
        return candidate if candidate.is_file() else None

    def _get(self) -> StoredValue | None:
        response = self._send("GET", f"{self._collection}/{self._name}", "get")
        if response.status_code == 404:
            return None
        self._raise_for(response, "get")
        body = json_body(response)
        encoded = (body.get("data") or {}).get(DATA_KEY)
        if not isinstance(encoded, str):
            raise CorruptKeyValue(f"{self.reference} has no key {DATA_KEY!r}; restore it or delete the Secret")
        try:
            text = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, ValueError):
            raise CorruptKeyValue(f"{self.reference} key {DATA_KEY!r} is not base64 UTF-8 text") from None
        return StoredValue(text, str((body.get("metadata") or {}).get("resourceVersion", "")))

    def _send(self, method: str, url: str, verb: str, **kwargs: Any) -> httpx.Response:
        return send(self._client, method, url, f"Kubernetes {verb} of {self.reference}", self._retry, **kwargs)

    def _raise_for(self, response: httpx.Response, verb: str) -> None:
        if response.status_code < 300:
            return
        if response.status_code in (401, 403):
            raise AccessDenied(
                f"the Kubernetes API denied {verb} of {self.reference} (HTTP {response.status_code}): bind the "
                "Role OrionKeyVault creates for this node (create secrets; get this secret) to the agent's "
                "service account"
            )
        reason = json_body(response).get("reason", "")
        raise KeyAgentError(f"Kubernetes {verb} of {self.reference} failed ({reason or response.status_code})")
