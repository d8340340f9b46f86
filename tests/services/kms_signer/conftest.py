"""A KMS stand-in that signs digests as AWS does (see ``moto_digest_server``), started once for this folder."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins import child, free_port

SERVER = Path(__file__).with_name("moto_digest_server.py")


def _up(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as response:
        return bool(response.status < 500)


@pytest.fixture(scope="session")
def kms_endpoint() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with child(
        [sys.executable, str(SERVER), "-H", "127.0.0.1", "-p", str(port)], "moto (KMS DIGEST)", lambda: _up(url)
    ):
        yield url
