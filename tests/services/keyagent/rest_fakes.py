"""In-memory GCP Secret Manager, Vault KV v2 and Kubernetes Secret APIs at the HTTP transport boundary.

None of the three has a local emulator, so the stores are tested against handlers that answer with the request
and response shapes of the services' REST references (paths, JSON bodies, status codes, error bodies):

- Secret Manager v1: ``GET .../versions?filter=state:ENABLED`` (newest first, ``versions[].name/state``),
  ``GET .../versions/N:access`` (``payload.data`` base64, ``payload.dataCrc32c`` decimal string),
  ``POST ...:addVersion`` (``{"payload": {"data", "dataCrc32c"}}``), ``POST .../versions/N:disable``; errors as
  ``{"error": {"code", "message", "status"}}``; tokens from the metadata server with ``Metadata-Flavor: Google``;
- Vault: ``POST /v1/auth/kubernetes/login`` (``{"role","jwt"}`` -> ``auth.client_token``), KV v2
  ``GET/POST /v1/<mount>/data/<path>`` with ``options.cas`` and ``data.metadata.version``; CAS mismatch is
  HTTP 400 ``{"errors": ["check-and-set parameter did not match the current version"]}``;
- Kubernetes: ``GET/POST/PUT /api/v1/namespaces/<ns>/secrets[/<name>]`` with ``data`` base64, 409
  AlreadyExists/Conflict as ``Status`` objects, ``metadata.resourceVersion`` optimistic concurrency.

Each fake is thread-safe (agents race from threads) and can inject failures (``fail_next``) and deny access.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.keyagent.stores.crc32c import crc32c

Handler = Callable[[httpx.Request], httpx.Response]


def _json(status: int, body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(status, json=body)


@dataclass
class FailureInjector:
    """Answer the next ``count`` matching requests with ``status`` (throttling, outages)."""

    queue: list[int] = field(default_factory=list)

    def fail_next(self, status: int, count: int = 1) -> None:
        self.queue.extend([status] * count)

    def take(self) -> int | None:
        return self.queue.pop(0) if self.queue else None


class FakeSecretManager:
    """Secret Manager for one project; ``secrets`` pre-created (as OrionKeyVault would)."""

    def __init__(self, project_number: str = "123456789", token: str = "ya29.fake-token") -> None:
        self.project_number = project_number
        self.token = token
        self.secrets: dict[str, list[dict[str, Any]]] = {}
        self.allowed = True
        self.failures = FailureInjector()
        self.requests: list[httpx.Request] = []
        self.token_requests = 0
        self._lock = threading.Lock()

    def create_secret(self, secret_id: str) -> str:
        self.secrets[secret_id] = []
        return f"projects/my-project/secrets/{secret_id}"

    def enabled_payloads(self, secret_id: str) -> list[bytes]:
        return [v["data"] for v in self.secrets[secret_id] if v["state"] == "ENABLED"]

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            return self._handle(request)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "metadata.google.internal":
            if request.headers.get("Metadata-Flavor") != "Google":
                return httpx.Response(403, text="Missing Metadata-Flavor:Google header.")
            self.token_requests += 1
            return _json(200, {"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        injected = self.failures.take()
        if injected is not None:
            return self._error(injected, "RESOURCE_EXHAUSTED" if injected == 429 else "UNAVAILABLE", "injected")
        if not self.allowed:
            return self._error(403, "PERMISSION_DENIED", "Permission 'secretmanager.versions.list' denied")
        path = request.url.path.removeprefix("/v1/")
        match = re.fullmatch(r"projects/[^/]+/secrets/([^/:]+)(.*)", path)
        if match is None or match.group(1) not in self.secrets:
            return self._error(404, "NOT_FOUND", "Secret not found")
        secret_id, rest = match.groups()
        versions = self.secrets[secret_id]
        base = f"projects/{self.project_number}/secrets/{secret_id}"
        if request.method == "GET" and rest == "/versions":
            wanted = request.url.params.get("filter")
            listed = [v for v in versions if wanted != "state:ENABLED" or v["state"] == "ENABLED"]
            body = [{"name": f"{base}/versions/{v['n']}", "state": v["state"]} for v in reversed(listed)]
            return _json(200, {"versions": body} if body else {})
        if request.method == "POST" and rest == ":addVersion":
            payload = json.loads(request.content)["payload"]
            data = base64.b64decode(payload["data"])
            if "dataCrc32c" in payload and int(payload["dataCrc32c"]) != crc32c(data):
                return self._error(400, "INVALID_ARGUMENT", "Checksum mismatch")
            versions.append({"n": len(versions) + 1, "state": "ENABLED", "data": data})
            return _json(200, {"name": f"{base}/versions/{len(versions)}", "state": "ENABLED"})
        version = re.fullmatch(r"/versions/(\d+)(:access|:disable)", rest)
        if version is None or not 0 < int(version.group(1)) <= len(versions):
            return self._error(404, "NOT_FOUND", "Secret Version not found")
        entry = versions[int(version.group(1)) - 1]
        if version.group(2) == ":disable" and request.method == "POST":
            entry["state"] = "DISABLED"
            return _json(200, {"name": f"{base}/versions/{entry['n']}", "state": "DISABLED"})
        if entry["state"] != "ENABLED":
            return self._error(400, "FAILED_PRECONDITION", "SecretVersion is in DISABLED state.")
        data = entry["data"]
        payload = {"data": base64.b64encode(data).decode(), "dataCrc32c": str(crc32c(data))}
        return _json(200, {"name": f"{base}/versions/{entry['n']}", "payload": payload})

    @staticmethod
    def _error(code: int, status: str, message: str) -> httpx.Response:
        return _json(code, {"error": {"code": code, "message": message, "status": status}})


class FakeVault:
    """Vault with a Kubernetes auth role and a KV v2 engine at ``secret/``."""

    def __init__(self, role: str = "lacchain-writer", jwt: str = "sa-jwt") -> None:
        self.role, self.jwt = role, jwt
        self.kv: dict[str, list[dict[str, Any] | None]] = {}
        self.policy_allows = True
        self.failures = FailureInjector()
        self.logins = 0
        self._lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            return self._handle(request)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        injected = self.failures.take()
        if injected is not None:
            return _json(injected, {"errors": ["injected"]})
        if request.url.path == "/v1/auth/kubernetes/login" and request.method == "POST":
            body = json.loads(request.content)
            if body.get("role") != self.role or body.get("jwt") != self.jwt:
                return _json(403, {"errors": ["permission denied"]})
            self.logins += 1
            return _json(200, {"auth": {"client_token": "hvs.fake", "lease_duration": 3600, "renewable": True}})
        if request.headers.get("X-Vault-Token") != "hvs.fake" or not self.policy_allows:
            return _json(403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]})
        match = re.fullmatch(r"/v1/secret/data/(.+)", request.url.path)
        if match is None:
            return _json(404, {"errors": []})
        path = match.group(1)
        versions = self.kv.get(path, [])
        if request.method == "GET":
            if not versions:
                return _json(404, {"errors": []})
            latest = versions[-1]
            metadata = {"version": len(versions), "deletion_time": "" if latest else "2025-01-01T00:00:00Z"}
            if latest is None:
                return _json(404, {"data": {"data": None, "metadata": metadata}})
            return _json(200, {"data": {"data": latest, "metadata": metadata}})
        if request.method in ("POST", "PUT"):
            body = json.loads(request.content)
            cas = (body.get("options") or {}).get("cas")
            if cas is not None and cas != len(versions):
                return _json(400, {"errors": ["check-and-set parameter did not match the current version"]})
            self.kv.setdefault(path, []).append(body["data"])
            return _json(200, {"data": {"version": len(self.kv[path]), "created_time": "2025-01-01T00:00:00Z"}})
        return _json(405, {"errors": []})


class FakeKubernetes:
    """The core/v1 Secret endpoints of one API server."""

    def __init__(self, token: str = "sa-token") -> None:
        self.token = token
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.allowed_verbs = {"get", "create", "update"}
        self.requests: list[httpx.Request] = []
        self._version = 100
        self._lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            return self._handle(request)

    def _status(self, code: int, reason: str) -> httpx.Response:
        return _json(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code})

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._status(401, "Unauthorized")
        match = re.fullmatch(r"/api/v1/namespaces/([^/]+)/secrets(?:/([^/]+))?", request.url.path)
        if match is None:
            return self._status(404, "NotFound")
        namespace, name = match.groups()
        verb = {"GET": "get", "POST": "create", "PUT": "update"}.get(request.method, "other")
        if verb not in self.allowed_verbs:
            return self._status(403, "Forbidden")
        if verb == "get":
            stored = self.secrets.get((namespace, name or ""))
            return _json(200, stored) if stored else self._status(404, "NotFound")
        body = json.loads(request.content)
        key = (namespace, body["metadata"]["name"])
        if verb == "create":
            if key in self.secrets:
                return self._status(409, "AlreadyExists")
        else:
            current = self.secrets.get(key)
            if current is None:
                return self._status(404, "NotFound")
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                return self._status(409, "Conflict")
        self._version += 1
        body["metadata"]["resourceVersion"] = str(self._version)
        self.secrets[key] = body
        return _json(201 if verb == "create" else 200, body)
