"""Configuration of the DDNS function from environment variables, validated at start.

Every adapter (Lambda, Cloud Functions, on-prem HTTP) calls ``service_from_env()`` once per instance. All problems
are reported together, each naming its variable (``ConfigError``).

==============================  ==========================================================================
variable                        meaning
==============================  ==========================================================================
DDNS_NETWORK                    network name; updates for other networks are refused (required)
DDNS_ZONE                       DNS zone of node names: ``<node name>.<DDNS_ZONE>`` (required)
DDNS_MEMBERS                    member list: ``file:/path.json``, ``secret:<name>`` or ``ssm:<parameter>`` (required)
DDNS_MEMBERS_TTL                seconds a loaded member list is reused (default 60)
DDNS_STORE                      ``sqlite`` (default) or ``dynamodb``
DDNS_SQLITE_PATH                SQLite file (default /var/lib/lacchain-ddns/nodes.db)
DDNS_TABLE                      DynamoDB table (required with ``dynamodb``)
DDNS_DNS_BACKEND                ``route53``, ``rfc2136``, ``clouddns`` or ``memory`` (required)
DDNS_DNS_TTL                    TTL of A/AAAA records (default 60)
DDNS_ROUTE53_ZONE_ID            hosted zone id (route53)
DDNS_DNS_SERVER                 primary server ``host`` or ``host:port`` (rfc2136)
DDNS_DNS_ZONE                   the server's zone, if DDNS_ZONE is below it (rfc2136; default DDNS_ZONE)
DDNS_TSIG_KEY_NAME              TSIG key name (rfc2136)
DDNS_TSIG_SECRET                TSIG key, base64 (rfc2136)
DDNS_TSIG_ALGORITHM             default hmac-sha256 (rfc2136)
DDNS_GCP_PROJECT                project of the managed zone (clouddns)
DDNS_GCP_MANAGED_ZONE           managed zone name (clouddns)
DDNS_SECRETS                    ``aws`` (Secrets Manager), ``gcp`` (Secret Manager), ``file`` or ``none`` (default none)
DDNS_SECRETS_DIR                directory of the ``file`` secret store (e.g. a mounted Kubernetes Secret)
DDNS_SECRETS_READONLY_DIR       ``file``: a directory read before DDNS_SECRETS_DIR (a mounted Secret with the CA)
DDNS_GCP_SECRETS_PROJECT        project of the ``gcp`` secret store (default DDNS_GCP_PROJECT)
DDNS_SECRETS_KMS_KEY_ID         KMS key for secrets the function creates (aws, optional)
DDNS_CERTIFICATES               ``on``/``off``: reissue TM TLS certificates (default on when DDNS_SECRETS is set)
DDNS_CA_SECRET                  network CA secret (default lacchain/{network}/tm-ca)
DDNS_NODE_CERT_SECRET           node certificate secret (default lacchain/{network}/nodes/{name}/tm-tls)
DDNS_TREE_KEY_SECRET            secret holding the ENR tree's secp256k1 key (hex); enables the EIP-1459 tree
DDNS_TREE_KEY_CREATE            ``on``: generate the tree key on first use if the secret has no value (default off)
DDNS_TREE_DOMAIN                tree domain (default nodes.<DDNS_ZONE>)
DDNS_TREE_TTL                   TTL of tree TXT records (default 300)
DDNS_TREE_LINKS                 comma-separated ``enrtree://`` links to other lists (optional)
DDNS_WINDOW_SECONDS             allowed clock difference of update timestamps (default 300)
DDNS_ALLOWED_PRIVATE_CIDRS      non-public ranges accepted anyway, comma-separated (on-prem; default none)
DDNS_PORT_RANGE                 allowed p2p ports ``low-high`` (default 1024-65535)
AWS_ENDPOINT_URL                AWS endpoint override (moto, LocalStack, VPC endpoints), optional
==============================  ==========================================================================
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from lacchain.ddns.policy import DEFAULT_WINDOW_SECONDS, PolicySettings, is_dns_label
from lacchain.enr import EnrError, parse_link
from lacchain.keys import NodeKey, NodeKeyError
from services.ddns_function.certificates import DEFAULT_CA_SECRET, DEFAULT_NODE_SECRET, SecretStoreCertificates
from services.ddns_function.core import DdnsService, DnsBackend, EnrTreeSettings, MemberSource, NodeStore
from services.ddns_function.secrets import AwsSecretsManager, FileSecretStore, GcpSecretManager, SecretStore

log = logging.getLogger("lacchain.ddns.config")


class ConfigError(ValueError):
    """One or more environment variables are missing or wrong; each line names the variable."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{name}: {problem}" for name, problem in problems))


class _Env:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[tuple[str, str]] = []

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name, "").strip()
        return value or default

    def required(self, name: str, meaning: str) -> str:
        value = self.get(name)
        if value is None:
            self.problems.append((name, f"required: {meaning}"))
            return ""
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.get(name, default)
        if value is None:
            self.problems.append((name, f"required: one of {', '.join(choices)}"))
            return ""
        if value not in choices:
            self.problems.append((name, f"{value!r} is not one of {', '.join(choices)}"))
            return ""
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.get(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            self.problems.append((name, f"{text!r} is not an integer"))
            return default
        if not low <= value <= high:
            self.problems.append((name, f"{value} is outside {low}-{high}"))
            return default
        return value

    def problem(self, name: str, text: str) -> None:
        self.problems.append((name, text))


def _aws_client(service: str, env: Mapping[str, str]) -> Any:
    import boto3

    endpoint = env.get("AWS_ENDPOINT_URL") or None
    return boto3.client(service, endpoint_url=endpoint)


class SecretTreeKey:
    """The ENR tree key from a secret (``0x`` + 64 hex digits), read once and kept.

    With ``create``, a secret without a value gets a new key, stored with the store's atomic ``create_if_absent``
    so concurrent instances agree on one key. The deployment then does not know the tree's link in advance: the
    function logs it and serves it as ``enrTree`` in ``GET /v1/nodes``.
    """

    def __init__(self, secrets: SecretStore, name: str, create: bool = False) -> None:
        self.secrets = secrets
        self.name = name
        self.create = create
        self._key: NodeKey | None = None
        self._lock = threading.Lock()

    def load(self) -> NodeKey:
        with self._lock:
            if self._key is None:
                value = self.secrets.get(self.name)
                if value is None and self.create:
                    value = self.secrets.create_if_absent(self.name, NodeKey.generate().hex)
                    log.info("ddns: ENR tree key %r in use (public key %s)", self.name, _public_hex(value))
                if value is None:
                    raise LookupError(f"the ENR tree key secret {self.name!r} does not exist")
                self._key = NodeKey.from_hex(value)
            return self._key


def _public_hex(value: str) -> str:
    return NodeKey.from_hex(value).compressed_public_key.hex()


def service_from_env(
    env: Mapping[str, str] | None = None,
    *,
    clients: Callable[[str], Any] | None = None,
    gcp_session: Any = None,
    clock: Callable[[], float] = time.time,
) -> DdnsService:
    """Build the service from ``env`` (default ``os.environ``); raises ``ConfigError`` listing every problem.

    ``clients(service_name)`` makes boto3 clients (default: ``boto3.client`` with ``AWS_ENDPOINT_URL``);
    ``gcp_session`` is the authorized HTTP session for Cloud DNS (default: ``gcp_auth.default_session()``).
    """
    environment = os.environ if env is None else env
    e = _Env(environment)
    make_client = clients or (lambda service: _aws_client(service, environment))

    network = e.required("DDNS_NETWORK", "the network's name, as in the member list")
    zone = e.required("DDNS_ZONE", "DNS zone of the node names, e.g. nodes.example.org").rstrip(".").lower()
    if zone and not all(is_dns_label(label) for label in zone.split(".")):
        e.problem("DDNS_ZONE", f"{zone!r} is not a DNS name")

    # policy
    window = e.integer("DDNS_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS, 1, 86400)
    cidrs: tuple[Any, ...] = ()
    try:
        cidrs = PolicySettings.parse_cidrs(e.get("DDNS_ALLOWED_PRIVATE_CIDRS", "") or "")
    except ValueError as exc:
        e.problem("DDNS_ALLOWED_PRIVATE_CIDRS", str(exc))
    port_range = (1024, 65535)
    port_text = e.get("DDNS_PORT_RANGE")
    if port_text is not None:
        try:
            low, high = (int(part) for part in port_text.split("-"))
            if not 1 <= low <= high <= 65535:
                raise ValueError
            port_range = (low, high)
        except ValueError:
            e.problem("DDNS_PORT_RANGE", f"{port_text!r} is not low-high with 1 <= low <= high <= 65535")
    dns_ttl = e.integer("DDNS_DNS_TTL", 60, 1, 86400)

    # secrets
    secrets: SecretStore | None = None
    secrets_kind = e.choice("DDNS_SECRETS", ("aws", "gcp", "file", "none"), "none")
    if secrets_kind == "aws":
        secrets = AwsSecretsManager(make_client("secretsmanager"), e.get("DDNS_SECRETS_KMS_KEY_ID"))
    elif secrets_kind == "gcp":
        project = e.get("DDNS_GCP_SECRETS_PROJECT") or e.get("DDNS_GCP_PROJECT")
        if project is None:
            e.problem("DDNS_GCP_SECRETS_PROJECT", "required with DDNS_SECRETS=gcp (or set DDNS_GCP_PROJECT)")
        else:
            gcp_session = gcp_session if gcp_session is not None else _default_gcp_session()
            secrets = GcpSecretManager(gcp_session, project)
    elif secrets_kind == "file":
        directory = e.required("DDNS_SECRETS_DIR", "directory of the file secret store")
        if directory:
            secrets = FileSecretStore(directory, e.get("DDNS_SECRETS_READONLY_DIR"))

    # members
    members = _members(e, make_client, secrets)

    # node table
    store: NodeStore | None = None
    store_kind = e.choice("DDNS_STORE", ("sqlite", "dynamodb"), "sqlite")
    if store_kind == "sqlite":
        from services.ddns_function.stores import SqliteNodeStore

        path = e.get("DDNS_SQLITE_PATH", "/var/lib/lacchain-ddns/nodes.db") or ""
        if not e.problems:
            try:
                store = SqliteNodeStore(path)
            except Exception as exc:
                e.problem("DDNS_SQLITE_PATH", f"cannot open {path!r} ({exc})")
    elif store_kind == "dynamodb":
        from services.ddns_function.stores import DynamoDbNodeStore

        table = e.required("DDNS_TABLE", "DynamoDB table of the node table")
        if table:
            store = DynamoDbNodeStore(make_client("dynamodb"), table)

    dns = _dns(e, zone, make_client, gcp_session)

    # certificates
    certificates = None
    default_certs = "on" if secrets is not None else "off"
    if e.choice("DDNS_CERTIFICATES", ("on", "off"), default_certs) == "on":
        if secrets is None:
            e.problem("DDNS_CERTIFICATES", "on needs a secret store: set DDNS_SECRETS to aws, gcp or file")
        else:
            certificates = SecretStoreCertificates(
                secrets,
                network,
                e.get("DDNS_CA_SECRET", DEFAULT_CA_SECRET) or DEFAULT_CA_SECRET,
                e.get("DDNS_NODE_CERT_SECRET", DEFAULT_NODE_SECRET) or DEFAULT_NODE_SECRET,
            )

    # ENR tree
    tree = None
    tree_secret = e.get("DDNS_TREE_KEY_SECRET")
    if tree_secret is not None:
        if secrets is None:
            e.problem("DDNS_TREE_KEY_SECRET", "needs a secret store: set DDNS_SECRETS to aws, gcp or file")
        else:
            links = tuple(part.strip() for part in (e.get("DDNS_TREE_LINKS", "") or "").split(",") if part.strip())
            for link in links:
                try:
                    parse_link(link)
                except EnrError as exc:
                    e.problem("DDNS_TREE_LINKS", f"{link!r}: {exc}")
            domain = (e.get("DDNS_TREE_DOMAIN") or f"nodes.{zone}").rstrip(".").lower()
            create = e.choice("DDNS_TREE_KEY_CREATE", ("on", "off"), "off") == "on"
            tree_key = SecretTreeKey(secrets, tree_secret, create)
            tree = EnrTreeSettings(domain, tree_key, e.integer("DDNS_TREE_TTL", 300, 1, 604800), links)

    if e.problems:
        raise ConfigError(e.problems)
    assert store is not None and dns is not None and members is not None
    if tree is not None:
        try:
            tree.key.load()
        except (LookupError, NodeKeyError) as exc:
            raise ConfigError([("DDNS_TREE_KEY_SECRET", str(exc))]) from None
    return DdnsService(
        zone=zone,
        store=store,
        dns=dns,
        members=members,
        certificates=certificates,
        tree=tree,
        settings=PolicySettings(window_seconds=window, allowed_private_cidrs=cidrs, port_range=port_range),
        ttl=dns_ttl,
        clock=clock,
    )


def _members(e: _Env, make_client: Callable[[str], Any], secrets: SecretStore | None) -> MemberSource | None:
    from services.ddns_function import members as sources

    spec = e.required("DDNS_MEMBERS", "where the member list is: file:/path.json, secret:<name> or ssm:<name>")
    ttl = float(e.integer("DDNS_MEMBERS_TTL", 60, 0, 86400))
    kind, _, where = spec.partition(":")
    if not spec:
        return None
    if not where:
        e.problem("DDNS_MEMBERS", f"{spec!r} must be file:/path.json, secret:<name> or ssm:<name>")
        return None
    if kind == "file":
        return sources.file_members(where, ttl)
    if kind == "secret":
        if secrets is None:
            e.problem("DDNS_MEMBERS", "secret: needs a secret store: set DDNS_SECRETS to aws, gcp or file")
            return None
        return sources.secret_members(secrets, where, ttl)
    if kind == "ssm":
        return sources.ssm_members(make_client("ssm"), where, ttl)
    e.problem("DDNS_MEMBERS", f"unknown source {kind!r}; use file:, secret: or ssm:")
    return None


def _dns(e: _Env, zone: str, make_client: Callable[[str], Any], gcp_session: Any) -> DnsBackend | None:
    from services.ddns_function import dns_backends

    kind = e.choice("DDNS_DNS_BACKEND", ("route53", "rfc2136", "clouddns", "memory"))
    if kind == "route53":
        zone_id = e.required("DDNS_ROUTE53_ZONE_ID", "the Route 53 hosted zone id")
        return dns_backends.Route53Dns(make_client("route53"), zone_id) if zone_id else None
    if kind == "rfc2136":
        server = e.required("DDNS_DNS_SERVER", "the zone's primary server, host or host:port")
        key_name = e.required("DDNS_TSIG_KEY_NAME", "the TSIG key name the server grants updates to")
        secret = e.required("DDNS_TSIG_SECRET", "the TSIG key (base64)")
        algorithm = e.get("DDNS_TSIG_ALGORITHM", "hmac-sha256") or "hmac-sha256"
        server_zone = (e.get("DDNS_DNS_ZONE") or zone).rstrip(".").lower()
        if zone and server_zone and not (zone == server_zone or zone.endswith("." + server_zone)):
            e.problem("DDNS_DNS_ZONE", f"{server_zone!r} must be DDNS_ZONE or a parent of it")
        host, port = server, 53
        if server.count(":") == 1:
            host, _, port_text = server.partition(":")
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                e.problem("DDNS_DNS_SERVER", f"{server!r}: the port must be 1-65535")
            else:
                port = int(port_text)
        import base64
        import binascii

        try:
            base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            e.problem("DDNS_TSIG_SECRET", "not base64 (as tsig-keygen prints it)")
        if not (server and key_name and secret):
            return None
        key = dns_backends.TsigKey(key_name, secret, algorithm)
        return dns_backends.Rfc2136Dns(server_zone, host, key, port=port)
    if kind == "clouddns":
        project = e.required("DDNS_GCP_PROJECT", "the Google Cloud project of the managed zone")
        managed_zone = e.required("DDNS_GCP_MANAGED_ZONE", "the Cloud DNS managed zone name")
        if not (project and managed_zone):
            return None
        return dns_backends.CloudDns(
            gcp_session if gcp_session is not None else _default_gcp_session(), project, managed_zone
        )
    if kind == "memory":
        from services.ddns_function.dns_memory import MemoryDns

        return MemoryDns()
    return None


def _default_gcp_session() -> Any:
    from services.ddns_function.gcp_auth import default_session

    return default_session()


_shared: DdnsService | None = None
_shared_lock = threading.Lock()


def shared_service() -> DdnsService:
    """The process's service, built from ``os.environ`` on first use (one per Lambda/Cloud Functions instance)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = service_from_env()
        return _shared
