"""Secret stores of the DDNS function: AWS Secrets Manager, or files (a directory on-prem, or a mounted
Kubernetes Secret). They hold the network CA, each node's TM TLS key and certificate, the ENR tree key and,
optionally, the member list. Values are strings (JSON documents or PEM)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Protocol


class SecretStore(Protocol):
    def get(self, name: str) -> str | None:
        """The secret's current string value, or None if it does not exist."""
        ...

    def put(self, name: str, value: str) -> None:
        """Create the secret or store a new version of it."""
        ...


class AwsSecretsManager:
    """Secrets Manager through a boto3 ``secretsmanager`` client. ``put`` stores a new version (``AWSCURRENT``) or
    creates the secret (with ``kms_key_id`` when given)."""

    def __init__(self, client: Any, kms_key_id: str | None = None, tags: dict[str, str] | None = None) -> None:
        self.client = client
        self.kms_key_id = kms_key_id
        self.tags = tags or {}

    def get(self, name: str) -> str | None:
        try:
            answer = self.client.get_secret_value(SecretId=name)
        except self.client.exceptions.ResourceNotFoundException:
            return None
        value = answer.get("SecretString")
        if value is None:
            raise ValueError(f"secret {name!r} holds binary data; the DDNS function reads string secrets")
        return str(value)

    def put(self, name: str, value: str) -> None:
        try:
            self.client.put_secret_value(SecretId=name, SecretString=value)
        except self.client.exceptions.ResourceNotFoundException:
            extra: dict[str, Any] = {}
            if self.kms_key_id:
                extra["KmsKeyId"] = self.kms_key_id
            if self.tags:
                extra["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(self.tags.items())]
            self.client.create_secret(Name=name, SecretString=value, **extra)


class FileSecretStore:
    """Secrets as files under a directory: ``name`` ``a/b/c`` is ``<directory>/a/b/c``. A Kubernetes Secret
    mounted as a volume reads the same way (one file per key). Writes are atomic (temporary file + rename) with
    mode 0600; a read-only mount makes ``put`` fail loudly."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, name: str) -> Path:
        parts = PurePosixPath(name).parts
        if not parts or any(p in ("..", "/", "") for p in parts) or name.startswith("/"):
            raise ValueError(f"secret name {name!r} must be a relative path without '..'")
        return self.directory.joinpath(*parts)

    def get(self, name: str) -> str | None:
        path = self._path(name)
        try:
            return path.read_text()
        except FileNotFoundError:
            return None

    def put(self, name: str, value: str) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(value)
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
