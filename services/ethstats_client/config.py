"""The reporter's configuration, read from ``ETHSTATS_*`` environment variables and validated at start.

The dashboard secret is a credential: it may be given inline (``ETHSTATS_SECRET``, e.g. from a Kubernetes Secret)
or as a file on the node's secrets volume (``ETHSTATS_SECRET_FILE``). Neither is accepted too, with an empty
secret (the deployments mark the Secret optional; a dashboard that wants one refuses the login, which the client
logs and retries), but not both.
Every problem names its variable; unknown ``ETHSTATS_*`` variables are refused so a typo cannot silently leave a
default in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from lacchain.errors import InvalidInput
from lacchain.layout import P2P_PORT, RPC_HTTP_PORT
from services.common.env_settings import validation_problems

PREFIX = "ETHSTATS_"
SOURCE = "ethstats client environment"
API_PATH = "/api"
"""The Primus endpoint of eth-netstats; appended when the URL names only a host."""


class Settings(BaseModel):
    """Validated settings; aliases are the environment variable names, so errors name the variable."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False)

    url: str = Field(alias="ETHSTATS_URL")
    node_name: str = Field(min_length=1, max_length=64, alias="ETHSTATS_NODE_NAME")
    secret: SecretStr | None = Field(None, min_length=1, max_length=512, alias="ETHSTATS_SECRET")
    secret_file: Path | None = Field(None, alias="ETHSTATS_SECRET_FILE")
    contact: str = Field("", max_length=128, alias="ETHSTATS_CONTACT")
    rpc_url: str = Field(f"http://127.0.0.1:{RPC_HTTP_PORT}", alias="ETHSTATS_RPC_URL")
    p2p_port: int = Field(P2P_PORT, ge=1, le=65535, alias="ETHSTATS_P2P_PORT")
    poll_seconds: float = Field(1.0, gt=0, le=60, alias="ETHSTATS_POLL_SECONDS")
    """How often the head is polled; half LACChain's 2 s block period, so every block is seen."""
    report_seconds: float = Field(15.0, gt=0, le=600, alias="ETHSTATS_REPORT_SECONDS")
    """How often the full report (latency, block, pending, stats) is sent, as go-ethereum does."""
    max_backoff_seconds: float = Field(60.0, gt=0, le=3600, alias="ETHSTATS_MAX_BACKOFF_SECONDS")
    timeout_seconds: float = Field(5.0, gt=0, le=60, alias="ETHSTATS_TIMEOUT_SECONDS")

    @field_validator("url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError(f"{value!r} is not a ws:// or wss:// URL (e.g. wss://ethstats.example.org)")
        path = parts.path if parts.path not in ("", "/") else API_PATH
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))

    @field_validator("rpc_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL (e.g. http://127.0.0.1:4545)")
        return value

    def secret_value(self) -> str:
        """The dashboard secret; empty when none is configured."""
        if self.secret is not None:
            return self.secret.get_secret_value()
        if self.secret_file is not None:
            return self.secret_file.read_text().strip()
        return ""


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from ``environ`` (only ``ETHSTATS_*`` keys); ``InvalidInput`` lists every problem."""
    given = {key: value for key, value in environ.items() if key.startswith(PREFIX)}
    try:
        settings = Settings.model_validate(given)
    except ValidationError as exc:
        raise InvalidInput(validation_problems(exc, Settings, ("ETHSTATS_SECRET",)), SOURCE) from None
    if settings.secret is not None and settings.secret_file is not None:
        raise InvalidInput.single(
            "ETHSTATS_SECRET_FILE", "set at most one of ETHSTATS_SECRET and ETHSTATS_SECRET_FILE", source=SOURCE
        )
    if settings.secret_file is not None:
        try:
            text = settings.secret_file.read_text().strip()
        except OSError as exc:
            raise InvalidInput.single(
                "ETHSTATS_SECRET_FILE", f"cannot read it ({exc.strerror})", source=SOURCE
            ) from None
        if not text:
            raise InvalidInput.single("ETHSTATS_SECRET_FILE", f"{settings.secret_file} is empty", source=SOURCE)
    return settings
