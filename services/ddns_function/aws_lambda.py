"""AWS adapter: a Lambda handler for a Function URL or an API Gateway HTTP API (payload format 2.0).

Handler: ``services.ddns_function.aws_lambda.handler``. The service is built once per execution environment from
the ``DDNS_*`` environment variables (``config.py``); a configuration error is logged with the variables at fault
and every request is answered 500 until the configuration is fixed.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from services.ddns_function import config
from services.ddns_function.core import DdnsService, Response, error
from services.ddns_function.http_server import MAX_READ_BYTES

log = logging.getLogger("lacchain.ddns.lambda")
logging.getLogger().setLevel(logging.INFO)


def to_lambda(response: Response) -> dict[str, Any]:
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": response.encoded().decode() if response.has_body else "",
        "isBase64Encoded": False,
    }


def handle_event(service: DdnsService, event: dict[str, Any]) -> dict[str, Any]:
    """Translate one HTTP API v2 / Function URL event into the core's request and back. The event's ``headers``
    have lower-case names, repeated headers joined by commas (what ``If-None-Match`` allows anyway)."""
    http = event.get("requestContext", {}).get("http", {})
    method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
    path = str(event.get("rawPath") or http.get("path") or event.get("path") or "/")
    raw = event.get("body") or ""
    if len(raw) > 2 * MAX_READ_BYTES:
        return to_lambda(error(413, "body", f"{len(raw)} bytes; an update is at most {MAX_READ_BYTES}"))
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return to_lambda(error(400, "body", "isBase64Encoded but the body is not base64"))
    else:
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
    headers = event.get("headers") or {}
    return to_lambda(service.handle(method, path, body, {str(k): str(v) for k, v in headers.items()}))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        service = config.shared_service()
    except Exception as exc:
        log.error("ddns: configuration error:\n%s", exc)
        return to_lambda(error(500, "configuration", "the function is misconfigured; see its logs"))
    return handle_event(service, event)
