"""The daemon's typed configuration: a TOML or YAML file, overridden by ``LACCHAIN_DDNS_*`` environment variables.

Everything the daemon talks to is a URL here (metadata servers, echo endpoints, the DDNS function, Besu's JSON-RPC),
so the same code runs against a cloud or against local stand-ins. The whole configuration is checked before the
daemon does anything; every problem is reported at once, naming the field and the fix.

Environment variables use ``__`` between levels: ``LACCHAIN_DDNS_FUNCTION__URL=https://...`` sets
``function.url``; a value that is JSON (a number, ``true``, a list) is read as JSON, anything else as text. On
Kubernetes this lets the sidecar take the whole config from its pod spec.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from lacchain import layout
from lacchain.enode import Enode, EnodeError
from lacchain.errors import FieldProblem, InvalidInput
from lacchain.stack_config import Role

ENV_PREFIX = "LACCHAIN_DDNS_"
CONFIG_ENV = "LACCHAIN_DDNS_CONFIG"
"""Names the config file (the command line's ``--config``); not a setting itself."""
DEFAULT_STATE_DIR = Path("/var/lib/lacchain-ddns")
DEFAULT_METRICS_PORT = 9560

AWS_IMDS_URL = "http://169.254.169.254"
GCP_METADATA_URL = "http://metadata.google.internal"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _rpc_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
        raise ValueError("must be a ws://, wss://, http:// or https:// URL with a host")
    return value.rstrip("/")


RpcUrl = Annotated[str, AfterValidator(_rpc_url)]


def _enode_url(value: str) -> str:
    try:
        return Enode.parse(value).url
    except EnodeError as exc:
        raise ValueError(str(exc)) from None


def _ip_network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"not a CIDR ({exc})") from None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceKind(StrEnum):
    AWS_IMDS = "aws-imds"
    """EC2 instance metadata, IMDSv2 (session token PUT first)."""
    GCP_METADATA = "gcp-metadata"
    """Compute Engine metadata server (``Metadata-Flavor: Google``)."""
    ECHO = "echo"
    """A "what is my IP" service answering the caller's address as plain text."""


class AddressSource(_Model):
    kind: SourceKind
    url: HttpUrl | None = None
    """Base URL for metadata kinds (their well-known address by default); the full URL for echo."""
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,40}$")
    """Label in logs and metrics; defaults to the kind and host."""

    @model_validator(mode="after")
    def _echo_needs_url(self) -> AddressSource:
        if self.kind is SourceKind.ECHO and self.url is None:
            raise ValueError("an echo source needs url, e.g. https://checkip.amazonaws.com")
        return self

    @property
    def base_url(self) -> str:
        if self.url is not None:
            return self.url
        return AWS_IMDS_URL if self.kind is SourceKind.AWS_IMDS else GCP_METADATA_URL

    @property
    def label(self) -> str:
        return self.name or f"{self.kind.value}:{urlsplit(self.base_url).hostname}"


class IpSettings(_Model):
    sources: list[AddressSource] = Field(default_factory=list)
    quorum: int | None = Field(default=None, ge=1)
    """How many sources must name the same address; default: a majority of the sources."""
    static_address: str | None = None
    """Fixed public address: skips detection (nodes with a known, static address)."""
    allowed_private_cidrs: list[Annotated[str, AfterValidator(_ip_network)]] = Field(default_factory=list)
    """Non-public ranges accepted from metadata and the static address (on-prem networks; echo sources never)."""
    check_interval_seconds: float = Field(default=30.0, gt=0, le=86400)
    timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    port: int = Field(default=layout.P2P_PORT, ge=1, le=65535)
    """The p2p port published with the address (Besu's p2p-port)."""

    @model_validator(mode="after")
    def _sources_and_quorum(self) -> IpSettings:
        if self.static_address is not None:
            try:
                ipaddress.ip_address(self.static_address)
            except ValueError:
                raise ValueError(f"static_address {self.static_address!r} is not an IP address") from None
            return self
        if not self.sources:
            raise ValueError("no address source: add [[ip.sources]] entries or set ip.static_address")
        if self.quorum is not None and self.quorum > len(self.sources):
            raise ValueError(f"quorum {self.quorum} is more than the {len(self.sources)} configured sources")
        labels = [source.label for source in self.sources]
        if len(set(labels)) != len(labels):
            raise ValueError("two sources have the same name; give each a distinct name")
        return self

    @property
    def effective_quorum(self) -> int:
        return self.quorum if self.quorum is not None else len(self.sources) // 2 + 1


class FunctionSettings(_Model):
    url: HttpUrl
    """Base URL of the network's DDNS update function (``/v1/update`` and ``/v1/nodes`` are appended)."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    max_attempts: int = Field(default=6, ge=1, le=20)
    backoff_initial_seconds: float = Field(default=0.5, ge=0, le=60)
    backoff_max_seconds: float = Field(default=30.0, ge=0, le=600)
    max_sequence_bumps: int = Field(default=3, ge=0, le=10)
    """How often a 409 (stale sequence) is answered with a higher sequence before giving up."""
    publish_enr: bool = True
    """After an accepted address update, post the node's signed EIP-778 record to ``/v1/enr`` (for the network's
    EIP-1459 tree, Besu's ``discovery-dns-url``)."""


class SyncSettings(_Model):
    interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    """Node table poll period; polls are conditional (ETag), so a short period is cheap for the function."""
    static_nodes_file: Path | None = Path(layout.STATIC_NODES_FILE)
    besu_config_file: Path | None = Path(layout.BESU_CONFIG_FILE)
    """Only its ``bootnodes`` key is edited; the file must exist."""
    allowlist_file: Path | None = None
    """Set when Besu uses local node permissioning (``permissions-nodes-config-file``): its ``nodes-allowlist``
    is kept in sync and changed live with ``perm_*`` calls."""
    extra_boot_nodes: list[Annotated[str, AfterValidator(_enode_url)]] = Field(default_factory=list)
    """Enode URLs of boot nodes that do not publish through this DDNS function (e.g. a network operator's fixed
    boot nodes). Every role peers with boots, so they stay in every peer list; a table row for the same node id
    takes precedence."""


class BesuSettings(_Model):
    rpc_url: RpcUrl | None = f"ws://127.0.0.1:{layout.RPC_WS_PORT}"
    """Besu's JSON-RPC endpoint with the ADMIN (and PERM) APIs; unset to only rewrite files. The default is the
    loopback-only WebSocket endpoint, the only one that carries them in LACChain's rendered config (the HTTP
    endpoint is published by nginx and carries public APIs only). ``http://`` works for an operator's own Besu
    that serves ADMIN on a private HTTP endpoint."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    auth_token_file: Path | None = None
    """File holding a JWT for Besu's ``rpc-ws-authentication-enabled`` (or ``rpc-http-...``), sent as a bearer
    token (on the WebSocket, in the upgrade request)."""


class MetricsSettings(_Model):
    enabled: bool = True
    address: str = "0.0.0.0"
    port: int = Field(default=DEFAULT_METRICS_PORT, ge=0, le=65535)


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class DaemonConfig(_Model):
    network: str = Field(min_length=1, max_length=100)
    """The network name the function serves (signed into every update)."""
    node_key_file: Path = Path(layout.NODE_KEY_FILE)
    state_dir: Path = DEFAULT_STATE_DIR
    role: Role | None = None
    """This node's role, used until the node table lists it (the table's role wins)."""
    function: FunctionSettings
    ip: IpSettings
    sync: SyncSettings = SyncSettings()
    besu: BesuSettings = BesuSettings()
    metrics: MetricsSettings = MetricsSettings()
    log_level: LogLevel = LogLevel.INFO


FIXES: Mapping[str, str] = {
    "network": 'the network name the DDNS function serves, e.g. network = "lacchain-pro-testnet"',
    "function": "add a [function] table with url = the DDNS function's base URL",
    "function.url": 'e.g. url = "https://ddns.example.org"',
    "ip": "add an [ip] table with [[ip.sources]] entries or static_address",
    "ip.quorum": "at most the number of sources; a majority is the default",
    "ip.sources": 'e.g. [[ip.sources]] kind = "echo" url = "https://checkip.amazonaws.com"',
    "ip.static_address": 'e.g. static_address = "198.51.100.7"',
    "role": "validator, boot, writer or observer",
    "metrics.port": "0-65535 (0 picks a free port)",
}


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> DaemonConfig:
    """Read ``path`` (TOML or YAML; optional when the environment carries everything), apply environment overrides,
    validate. Raises ``InvalidInput`` listing every problem."""
    environ = os.environ if environ is None else environ
    source = str(path) if path is not None else "environment"
    document: dict[str, Any] = {}
    if path is not None:
        document = _read_document(path)
    _apply_environment(document, environ)
    try:
        return DaemonConfig.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(_problems(exc), source) from None


def _read_document(path: Path) -> dict[str, Any]:
    field = "--config"
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput.single(
            field, f"{path} does not exist", "pass the daemon's TOML or YAML config", source=source
        ) from None
    except OSError as exc:
        raise InvalidInput.single(
            field, f"{path} cannot be read ({exc.strerror})", "check its permissions", source=source
        ) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            document = tomllib.loads(raw.decode("utf-8"))
        elif suffix in (".yaml", ".yml"):
            document = yaml.safe_load(raw) or {}
        else:
            raise InvalidInput.single(
                field, f"{path.name}: unknown format", "name the file *.toml, *.yaml or *.yml", source=source
            )
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInput.single(
            field, f"{path} does not parse ({exc})", "fix the syntax at the place named", source=source
        ) from None
    if not isinstance(document, dict):
        raise InvalidInput.single(
            field, f"{path} is not a mapping of settings", "see the example config", source=source
        )
    return document


def _apply_environment(document: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or not raw or name == CONFIG_ENV:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        target = document
        for part in path[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
            target = child
        target[path[-1]] = _env_value(raw)


def _env_value(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, list | dict | int | float | bool) else raw


def _problems(error: ValidationError) -> list[FieldProblem]:
    problems = []
    for item in error.errors():
        where = _location(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
            fix = "check the spelling against the example config"
        elif item["type"] == "missing":
            message = "required"
            fix = FIXES.get(where, "")
        else:
            fix = FIXES.get(where, "")
        problems.append(FieldProblem(where or "(config)", message, fix))
    return problems


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("function-after[") or part.startswith("function-"):
            continue
        else:
            text += f".{part}" if text else part
    return text
