"""Where the network's member list comes from: a JSON document (``MemberList.from_document``) published by the member
stacks in a file, a Secrets Manager secret or an SSM parameter. Loads are cached for ``ttl`` seconds, so a warm
function does not read the document on every update, and a member added by a stack is seen within ``ttl``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lacchain.ddns.policy import MemberList

DEFAULT_TTL = 60.0


class CachedMembers:
    """A member source from a loader of the JSON text, cached for ``ttl`` seconds."""

    def __init__(self, read: Callable[[], str], source: str, ttl: float = DEFAULT_TTL) -> None:
        self._read = read
        self.source = source
        self.ttl = ttl
        self._cached: tuple[float, MemberList] | None = None
        self._lock = threading.Lock()

    def load(self) -> MemberList:
        now = time.monotonic()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < self.ttl:
                return self._cached[1]
            members = MemberList.from_json(self._read(), self.source)
            self._cached = (now, members)
            return members


def file_members(path: str | Path, ttl: float = DEFAULT_TTL) -> CachedMembers:
    file = Path(path)
    return CachedMembers(file.read_text, str(file), ttl)


def secret_members(secrets: Any, name: str, ttl: float = DEFAULT_TTL) -> CachedMembers:
    """From a secret store (``secrets.SecretStore``): the document is the secret's string value."""

    def read() -> str:
        value = secrets.get(name)
        if value is None:
            raise LookupError(f"member list secret {name!r} does not exist")
        return str(value)

    return CachedMembers(read, f"secret {name}", ttl)


def ssm_members(client: Any, name: str, ttl: float = DEFAULT_TTL) -> CachedMembers:
    """From an SSM Parameter Store parameter (String or SecureString); ``client`` is ``boto3.client("ssm")``."""

    def read() -> str:
        return str(client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])

    return CachedMembers(read, f"parameter {name}", ttl)


class StaticMembers:
    """A member list already in memory (tests, benchmarks, embedding)."""

    def __init__(self, members: MemberList) -> None:
        self.members = members

    def load(self) -> MemberList:
        return self.members
