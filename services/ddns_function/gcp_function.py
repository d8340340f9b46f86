"""Google Cloud adapter: a Cloud Functions (2nd gen) / Cloud Run functions HTTP entry point.

Deploy with ``--entry-point=ddns``. The entry point takes the Flask request Cloud Functions passes; nothing here
imports ``functions_framework``, so the module loads wherever Flask-like requests come from. The service is built
once per instance from ``DDNS_*`` environment variables (``config.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from services.ddns_function import config
from services.ddns_function.core import DdnsService, Response, error
from services.ddns_function.http_server import MAX_READ_BYTES

log = logging.getLogger("lacchain.ddns.gcp")


def to_flask(response: Response) -> tuple[bytes, int, dict[str, str]]:
    return (response.encoded() if response.has_body else b""), response.status, dict(response.headers)


def handle_request(service: DdnsService, request: Any) -> tuple[bytes, int, dict[str, str]]:
    """Answer a Flask/werkzeug-like request (``method``, ``path``, ``headers``, ``content_length``, ``get_data``)."""
    length = getattr(request, "content_length", None)
    if length is not None and length > MAX_READ_BYTES:
        return to_flask(error(413, "body", f"{length} bytes; an update is at most {MAX_READ_BYTES}"))
    body = request.get_data(cache=False) if request.method not in ("GET", "HEAD") else b""
    if len(body) > MAX_READ_BYTES:
        return to_flask(error(413, "body", f"{len(body)} bytes; an update is at most {MAX_READ_BYTES}"))
    headers = getattr(request, "headers", None)
    request_headers = {str(k): str(v) for k, v in headers.items()} if headers is not None else {}
    return to_flask(service.handle(request.method, request.path, body, request_headers))


def ddns(request: Any) -> tuple[bytes, int, dict[str, str]]:
    try:
        service = config.shared_service()
    except Exception as exc:
        log.error("ddns: configuration error:\n%s", exc)
        return to_flask(error(500, "configuration", "the function is misconfigured; see its logs"))
    return handle_request(service, request)
