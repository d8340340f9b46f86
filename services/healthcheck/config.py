"""The healthcheck's configuration, read from ``HEALTHCHECK_*`` environment variables and validated at start.

A probe that starts with a typo in its configuration would report a healthy node as broken (or worse, a broken
one as healthy) for as long as it runs, so every problem is refused before the server listens, each one naming
the variable to fix. Unknown ``HEALTHCHECK_*`` variables are refused too: a misspelt threshold must not silently
fall back to its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lacchain.errors import InvalidInput
from lacchain.layout import HEALTHCHECK_PORT, RPC_HTTP_PORT
from lacchain.presets import PRESETS, PresetName
from lacchain.stack_config import Role
from services.common.env_settings import validation_problems

PREFIX = "HEALTHCHECK_"
SOURCE = "healthcheck environment"

MIN_PEERS_BY_ROLE: dict[Role, int] = {
    # IBFT 2.0 needs 2F+1 of 3F+1 validators to seal a block; with the smallest fault-tolerant set (4), a
    # validator that sees fewer than 2 others cannot be part of a quorum.
    Role.VALIDATOR: 2,
    # A boot node relays between validators and satellite nodes: one peer on each side at least.
    Role.BOOT: 2,
    # Writers and observers reach the network through a boot node.
    Role.WRITER: 1,
    Role.OBSERVER: 1,
}

BLOCK_AGE_PERIODS = 10
"""A head older than this many block periods means block production (or import) has stopped."""


class Settings(BaseModel):
    """Validated settings. Field aliases are the environment variable names, so errors name the variable."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False)

    role: Role = Field(alias="HEALTHCHECK_ROLE")
    besu_rpc_url: str = Field(f"http://127.0.0.1:{RPC_HTTP_PORT}", alias="HEALTHCHECK_BESU_RPC_URL")
    min_peers: int | None = Field(None, ge=0, alias="HEALTHCHECK_MIN_PEERS")
    max_blocks_behind: int = Field(10, ge=0, alias="HEALTHCHECK_MAX_BLOCKS_BEHIND")
    block_period_seconds: float = Field(
        float(PRESETS[PresetName.PRO_TESTNET].block_period_seconds), gt=0, alias="HEALTHCHECK_BLOCK_PERIOD_SECONDS"
    )
    max_block_age_seconds: float | None = Field(None, gt=0, alias="HEALTHCHECK_MAX_BLOCK_AGE_SECONDS")
    tm_upcheck_url: str | None = Field(None, alias="HEALTHCHECK_TM_UPCHECK_URL")
    timeout_seconds: float = Field(2.0, gt=0, le=30, alias="HEALTHCHECK_TIMEOUT_SECONDS")
    # Probes come from outside the pod (kubelet, load balancer), so all interfaces by default.
    listen_host: str = Field("0.0.0.0", min_length=1, alias="HEALTHCHECK_LISTEN_HOST")
    listen_port: int = Field(HEALTHCHECK_PORT, ge=1, le=65535, alias="HEALTHCHECK_LISTEN_PORT")

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in {r.value for r in Role}:
            raise ValueError(f"{value!r} is not a node role; use one of {', '.join(r.value for r in Role)}")
        return value

    @field_validator("besu_rpc_url", "tm_upcheck_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL (e.g. http://127.0.0.1:4545)")
        return value

    @property
    def effective_min_peers(self) -> int:
        """The configured minimum, or the role's default."""
        return MIN_PEERS_BY_ROLE[self.role] if self.min_peers is None else self.min_peers

    @property
    def effective_max_block_age(self) -> float:
        """The configured maximum head age, or ``BLOCK_AGE_PERIODS`` block periods."""
        if self.max_block_age_seconds is not None:
            return self.max_block_age_seconds
        return BLOCK_AGE_PERIODS * self.block_period_seconds


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from ``environ`` (only ``HEALTHCHECK_*`` keys are read); ``InvalidInput`` lists every problem."""
    given = {key: value for key, value in environ.items() if key.startswith(PREFIX)}
    try:
        settings = Settings.model_validate(given)
    except ValidationError as exc:
        raise InvalidInput(validation_problems(exc, Settings), SOURCE) from None
    if settings.tm_upcheck_url is not None and settings.role is not Role.WRITER:
        raise InvalidInput.single(
            "HEALTHCHECK_TM_UPCHECK_URL",
            f"set on a {settings.role.value}, but only writers run a transaction manager",
            "unset it, or set HEALTHCHECK_ROLE=writer",
            SOURCE,
        )
    return settings
