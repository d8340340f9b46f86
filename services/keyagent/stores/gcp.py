"""GCP Secret Manager store (REST v1): one secret per node, CMEK-encrypted, created by OrionKeyVault.

The agent only adds and reads *versions* of a secret that already exists (creating secrets needs project-wide
permission; the node's service account gets roles on its own secret only).

Secret Manager has no "add version if none" call, so the agent makes one from two documented facts: versions get
increasing numbers, and ``versions.list`` shows them all. The rule every reader applies is **the oldest ENABLED
version is the identity**:

- first boot: an agent lists enabled versions; if there are none it adds one, then lists again. If its version
  is the oldest enabled one it won; otherwise it disables its own version and reads the winner's;
- a loser that crashed before disabling leaves an extra enabled version, which readers ignore (it is newer);
- rotation adds a version and then disables every other enabled version (the new document carries the old keys
  in ``previous``), so afterwards the rotated version is the only, hence oldest, enabled one. A crash midway
  leaves the old version oldest: nodes keep the old identity until the rotation is re-run. Safe either way.
"""

from __future__ import annotations

import base64
import binascii
import re
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
from services.keyagent.stores.crc32c import crc32c
from services.keyagent.stores.http import json_body, send

API = "https://secretmanager.googleapis.com/v1"
SECRET_NAME = re.compile(r"^projects/[a-z0-9-]{1,63}/secrets/[A-Za-z0-9_-]{1,255}$")
ROLES_HINT = "roles/secretmanager.secretAccessor and roles/secretmanager.secretVersionManager"


class GcpSecretManagerStore:
    """``secret``: ``projects/<project>/secrets/<secret-id>``; ``session``: an authorized ``httpx.Client``."""

    def __init__(self, session: httpx.Client, secret: str, base_url: str = API, retry: RetryPolicy | None = None):
        if not SECRET_NAME.match(secret):
            raise ConfigError(
                f"{secret!r} is not a Secret Manager secret name; use projects/<project>/secrets/<secret-id> "
                "(the OrionKeyVault output secretRef of the node)"
            )
        self._session = session
        self._secret = secret
        self._base = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()

    @property
    def reference(self) -> str:
        return self._secret

    def read(self) -> StoredValue | None:
        enabled = self._enabled_versions()
        return self._access(enabled[0]) if enabled else None

    def create(self, text: str) -> bool:
        if self._enabled_versions():
            return False
        added = self._add_version(text)
        if self._enabled_versions()[0] == added:
            return True
        self._disable(added)  # we lost the race: withdraw our candidate so the secret stays tidy
        return False

    def replace(self, text: str, expected: StoredValue) -> None:
        enabled = self._enabled_versions()
        if not enabled or enabled[0] != expected.version:
            raise StoreConflict(f"the secret {self._secret} changed while rotating; run the rotation again")
        added = self._add_version(text)
        for name in self._enabled_versions():
            if name != added:
                self._disable(name)

    # -- REST calls ---------------------------------------------------------------------------------------------

    def _enabled_versions(self) -> list[str]:
        """Names of ENABLED versions, oldest first (by version number)."""
        names: list[str] = []
        page_token = ""
        while True:
            params = {"filter": "state:ENABLED", "pageSize": "100"}
            if page_token:
                params["pageToken"] = page_token
            response = self._send("GET", f"{self._base}/{self._secret}/versions", "versions.list", params=params)
            body = json_body(response)
            names.extend(str(v["name"]) for v in body.get("versions", []) if v.get("state", "ENABLED") == "ENABLED")
            page_token = str(body.get("nextPageToken") or "")
            if not page_token:
                break
        return sorted(names, key=_version_number)

    def _access(self, name: str) -> StoredValue:
        body = json_body(self._send("GET", f"{self._base}/{name}:access", "versions.access"))
        payload = body.get("payload") or {}
        try:
            data = base64.b64decode(str(payload.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            raise CorruptKeyValue(f"version {name} of {self._secret} has a payload that is not base64") from None
        checksum = payload.get("dataCrc32c")
        if checksum is not None and int(checksum) != crc32c(data):
            raise CorruptKeyValue(
                f"version {name} of {self._secret} failed its CRC32C check (corrupted in transit or at rest); "
                "retry, and if it persists restore an older version"
            )
        try:
            return StoredValue(data.decode(), str(body.get("name", name)))
        except UnicodeDecodeError:
            raise CorruptKeyValue(f"version {name} of {self._secret} is not UTF-8 text") from None

    def _add_version(self, text: str) -> str:
        data = text.encode()
        payload = {"data": base64.b64encode(data).decode(), "dataCrc32c": str(crc32c(data))}
        body = json_body(
            self._send("POST", f"{self._base}/{self._secret}:addVersion", "addVersion", json={"payload": payload})
        )
        return str(body["name"])

    def _disable(self, name: str) -> None:
        self._send("POST", f"{self._base}/{name}:disable", "versions.disable", json={})

    def _send(self, method: str, url: str, action: str, **kwargs: Any) -> httpx.Response:
        response = send(self._session, method, url, f"Secret Manager {action} on {self._secret}", self._retry, **kwargs)
        if response.status_code < 300:
            return response
        status = str((json_body(response).get("error") or {}).get("status", ""))
        if response.status_code in (401, 403):
            raise AccessDenied(
                f"access denied ({status or response.status_code}) on {action}: the node's service account needs "
                f"{ROLES_HINT} on {self._secret}; OrionKeyVault grants exactly these to the node's account"
            )
        if response.status_code == 404:
            raise KeyMissing(
                f"the secret {self._secret} does not exist; create it with the OrionKeyVault component (the agent "
                "adds versions to an existing secret, it does not create secrets on GCP)"
            )
        raise KeyAgentError(f"Secret Manager {action} on {self._secret} failed ({status or response.status_code})")


def _version_number(name: str) -> int:
    tail = name.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0
