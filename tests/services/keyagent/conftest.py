"""Fixtures of the key agent tests: a real memory-backed output directory and a retry policy that never sleeps."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.keyagent.document import KeyDocument
from services.keyagent.output import MOUNTINFO, filesystem_type
from services.keyagent.retry import RetryPolicy

SHM = Path("/dev/shm")


@pytest.fixture()
def memory_dir() -> Iterator[Path]:
    """A fresh directory on a real tmpfs (``/dev/shm``), so the agent's own mountinfo check runs unmodified."""
    if not SHM.is_dir() or filesystem_type(SHM.resolve(), MOUNTINFO.read_text()) != "tmpfs":
        pytest.skip("needs /dev/shm on tmpfs (standard on Linux and in containers)")
    path = Path(tempfile.mkdtemp(prefix="keyagent-test-", dir=SHM))
    try:
        yield path / "keys"
    finally:
        shutil.rmtree(path, ignore_errors=True)


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture()
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture()
def fast_retry(sleeps: RecordingSleep) -> RetryPolicy:
    """Real schedule (attempts, caps), recorded instead of slept; jitter fixed at its maximum."""
    return RetryPolicy(attempts=4, base_delay=0.2, max_delay=1.0, sleep=sleeps, random=lambda: 1.0)


def secret_texts(document: KeyDocument) -> list[str]:
    """Every private key string that must never appear in a message, a log line or a non-secret output."""
    texts = [v.pair.private_key_b64 for v in document.versions]
    texts += [v.pair.private_key.hex() for v in document.versions]
    if document.node_key is not None:
        texts.append(document.node_key.hex.removeprefix("0x"))
    return texts


def assert_no_key_material(message: str, document: KeyDocument) -> None:
    for text in secret_texts(document):
        assert text not in message
