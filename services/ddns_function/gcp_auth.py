"""Authorized HTTP sessions for Google APIs (Cloud DNS) without requiring the google-auth package.

``default_session()`` uses ``google.auth`` when it is installed (Application Default Credentials); otherwise an
``httpx.Client`` whose bearer token comes from the metadata server, which is what Cloud Functions, Cloud Run and
GCE provide to the function's service account.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any

import httpx

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
METADATA_TOKEN_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
REFRESH_MARGIN = 60.0


class MetadataTokenAuth(httpx.Auth):
    """Bearer tokens from the GCE/Cloud Functions metadata server, refreshed a minute before they expire."""

    def __init__(self, token_url: str = METADATA_TOKEN_URL, transport: httpx.BaseTransport | None = None) -> None:
        self.token_url = token_url
        self._client = httpx.Client(transport=transport, timeout=10.0)
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            now = time.monotonic()
            if self._token is None or now >= self._token[1]:
                response = self._client.get(self.token_url, headers={"Metadata-Flavor": "Google"})
                response.raise_for_status()
                body = response.json()
                self._token = (str(body["access_token"]), now + float(body.get("expires_in", 300)) - REFRESH_MARGIN)
            return self._token[0]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request


def default_session(transport: httpx.BaseTransport | None = None) -> Any:
    """An authorized session for Google APIs: ``AuthorizedSession`` if google-auth is installed, else httpx."""
    try:
        import google.auth  # type: ignore[import-not-found]
        from google.auth.transport.requests import AuthorizedSession  # type: ignore[import-not-found]
    except ImportError:
        return httpx.Client(auth=MetadataTokenAuth(transport=transport), transport=transport, timeout=30.0)
    credentials, _ = google.auth.default(scopes=[SCOPE])
    return AuthorizedSession(credentials)
