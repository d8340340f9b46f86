"""What the REST-based stores (GCP Secret Manager, Vault, Kubernetes) share: retried requests and token auth.

Each store takes an ``httpx.Client`` from its caller. In production that client carries the platform identity
(an ``httpx.Auth`` below) and the platform's CA; tests hand in a client whose transport answers with the
documented request/response shapes, since GCP, Vault and the Kubernetes API have no local emulator here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

import httpx

from services.keyagent.errors import AccessDenied
from services.keyagent.retry import Retryable, RetryPolicy, call_with_retry

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
KUBERNETES_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
KUBERNETES_CA_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"


def send(
    client: httpx.Client,
    method: str,
    url: str,
    what: str,
    policy: RetryPolicy,
    retry_status: Iterable[int] = RETRYABLE_STATUS,
    **kwargs: Any,
) -> httpx.Response:
    """One request, retried on network errors and on throttling/5xx answers; other answers are returned."""
    retry_on = frozenset(retry_status)

    def attempt() -> httpx.Response:
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise Retryable(f"{type(exc).__name__}") from None
        if response.status_code in retry_on:
            raise Retryable(f"HTTP {response.status_code}")
        return response

    return call_with_retry(attempt, policy, what)


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or an empty dict for empty/non-JSON bodies (error pages)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class BearerTokenFile(httpx.Auth):
    """``Authorization: Bearer <token>`` from a file, re-read on every request: projected Kubernetes service
    account tokens are rotated by the kubelet while the pod runs."""

    def __init__(self, path: str = KUBERNETES_TOKEN_FILE) -> None:
        self._path = Path(path)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {read_token_file(self._path)}"
        yield request


def read_token_file(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError:
        raise AccessDenied(
            f"no service account token at {path}: run the agent in a pod whose service account token is mounted "
            "(automountServiceAccountToken: true, or a projected token volume)"
        ) from None
    if not token:
        raise AccessDenied(f"the service account token file {path} is empty")
    return token


class GcpMetadataToken(httpx.Auth):
    """OAuth access tokens of the VM's (or, under GKE Workload Identity, the pod's) service account, fetched
    from the metadata server and cached until shortly before they expire. No key file is ever involved."""

    TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"

    def __init__(
        self,
        metadata: httpx.Client,
        host: str = "metadata.google.internal",
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metadata = metadata
        self._url = f"http://{host}{self.TOKEN_PATH}"
        self._policy = policy or RetryPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._expires = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request

    def token(self) -> str:
        with self._lock:
            if not self._token or self._clock() >= self._expires:
                self._refresh()
            return self._token

    def _refresh(self) -> None:
        response = send(
            self._metadata,
            "GET",
            self._url,
            "the GCP metadata server token request",
            self._policy,
            headers={"Metadata-Flavor": "Google"},
        )
        body = json_body(response)
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str):
            raise AccessDenied(
                f"the GCP metadata server gave no access token (HTTP {response.status_code}): run the agent on a "
                "VM with a service account, or in a GKE pod whose Kubernetes service account is bound to a Google "
                "service account (Workload Identity)"
            )
        lifetime = float(body.get("expires_in", 300))
        self._token = token
        self._expires = self._clock() + max(0.0, lifetime - 60.0)
