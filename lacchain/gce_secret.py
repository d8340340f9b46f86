#!/usr/bin/python3
"""Fetch one Secret Manager secret version into a file, as a Compute Engine instance's own service account.

This file runs *on the VM*, not in the Pulumi program: ``lacchain.vm`` ships its source in the boot files as
``/usr/local/lib/lacchain/gce_secret.py`` and the node's ``lacchain-node-key.service`` runs it with the system
``python3`` before Besu starts. It therefore uses the standard library only (a Debian Compute Engine image has
python3 but no Google client library, and ``gcloud`` is not guaranteed), and it is tested against a local fake of
the two HTTP endpoints it calls.

What it does, and why:

- the access token comes from the metadata server (the instance's service account; no key file exists anywhere),
  so the only thing that decides access is the IAM binding on the one secret;
- the value is written to a temporary file created with ``O_EXCL`` and mode 0600 in the target directory (a
  tmpfs), handed to the node's user, then renamed over the target: Besu never sees a partial key, and the key
  never touches a persistent disk, a process argument or a log line;
- transient failures (metadata server starting, IAM binding still propagating) are retried with backoff; the exit
  status says what failed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

METADATA_HOST = "metadata.google.internal"
SECRET_MANAGER_API = "https://secretmanager.googleapis.com/v1"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
TIMEOUT_SECONDS = 15


class FetchError(Exception):
    """A failure worth reporting in one line (never containing the secret)."""


def _get_json(url: str, headers: dict[str, str]) -> dict[str, object]:
    request = urllib.request.Request(url, headers=headers, method="GET")
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        document = json.loads(response.read().decode())
    if not isinstance(document, dict):
        raise FetchError(f"{url} did not answer a JSON object")
    return document


def access_token(metadata_base: str) -> str:
    """The default service account's OAuth token from the metadata server."""
    document = _get_json(f"{metadata_base}{TOKEN_PATH}", {"Metadata-Flavor": "Google"})
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise FetchError("the metadata server answered no access_token")
    return token


def read_secret(api: str, version: str, token: str) -> bytes:
    """The payload of ``version`` (``projects/P/secrets/S/versions/V``)."""
    document = _get_json(f"{api}/{version}:access", {"Authorization": f"Bearer {token}"})
    payload = document.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, str):
        raise FetchError(f"{version} has no payload data")
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise FetchError(f"{version} payload is not base64") from None


def write_private(path: str, value: bytes, uid: int, gid: int) -> None:
    """Write ``value`` to ``path`` readable only by ``uid``, atomically (temporary file + rename)."""
    directory = os.path.dirname(path) or "."
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        if os.geteuid() == 0:
            os.chown(temporary, uid, gid)
        os.chmod(temporary, 0o400)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def fetch(
    version: str,
    out: str,
    uid: int,
    gid: int,
    metadata_base: str,
    api: str,
    attempts: int,
    sleep: float,
) -> None:
    """Fetch ``version`` into ``out``, retrying transient failures ``attempts`` times."""
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            value = read_secret(api, version, access_token(metadata_base)).strip()
            write_private(out, value, uid, gid)
            return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code in (400, 404):
                break  # a wrong name does not heal by waiting
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if attempt < attempts:
            time.sleep(sleep * attempt)
    raise FetchError(
        f"could not read {version} ({last}); the instance's service account needs "
        "roles/secretmanager.secretAccessor on that secret"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch a Secret Manager secret version into a private file.")
    parser.add_argument("--version", required=True, help="projects/<project>/secrets/<id>/versions/<n|latest>")
    parser.add_argument("--out", required=True, help="file to write (on tmpfs)")
    parser.add_argument("--owner", default="0:0", help="uid:gid that may read the file")
    parser.add_argument("--metadata-base", default=f"http://{METADATA_HOST}")
    parser.add_argument("--api", default=SECRET_MANAGER_API)
    parser.add_argument("--attempts", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=3.0, help="backoff step in seconds")
    args = parser.parse_args(argv)
    uid, _, gid = args.owner.partition(":")
    try:
        fetch(
            args.version, args.out, int(uid), int(gid or uid), args.metadata_base, args.api, args.attempts, args.sleep
        )
    except (FetchError, ValueError) as exc:
        print(f"gce_secret: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
