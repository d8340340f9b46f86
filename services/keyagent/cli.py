"""``python -m services.keyagent``: flags (or ``LACCHAIN_KEYAGENT_*`` variables) in, keys in memory, exit code out.

Exit codes: 0 keys written; 1 unexpected failure; 2 configuration; 3 output directory not memory-backed;
4 access denied; 5 no key stored and creation disabled; 6 stored value corrupted; 7 store unavailable after
retries; 8 concurrent change. One log line on stderr says what to fix; no line ever contains key material.

Settings come from flags, then ``LACCHAIN_KEYAGENT_*`` environment variables, then ``--env-file`` (one
``LACCHAIN_KEYAGENT_NAME=value`` a line, the systemd ``EnvironmentFile`` syntax): the deployments write the node's
OrionKeyVault ``agent_env`` to ``/etc/lacchain/keyagent.env`` on every platform and pass ``--env-file`` to it.

``python -m services.keyagent rpc-tls ...`` is the image's second job: a self-signed certificate for nginx when
the node has no cert-manager issuer (``services.keyagent.rpc_tls``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lacchain.errors import InvalidInput
from services.keyagent import rpc_tls
from services.keyagent.agent import run
from services.keyagent.build import build
from services.keyagent.config import BACKENDS, ENV_PREFIX, AgentConfig, field_label
from services.keyagent.errors import ConfigError, KeyAgentError
from services.keyagent.files import TmTemplates
from services.keyagent.output import ALLOW_FLAG

log = logging.getLogger("lacchain.keyagent")
TRUE = {"1", "true", "yes", "on"}


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    defaults = AgentConfig(backend="", secret="")

    def value(name: str, default: object = None) -> object:
        return env.get(f"{ENV_PREFIX}{name.upper()}", default)

    def flag(name: str) -> bool:
        return env.get(f"{ENV_PREFIX}{name.upper()}", "").strip().lower() in TRUE

    parser = argparse.ArgumentParser(
        prog="python -m services.keyagent",
        description="Fetch or create this node's transaction manager keys and write them to a memory-backed "
        "directory. Every flag can also be set as LACCHAIN_KEYAGENT_<FLAG> (upper case, '_' for '-').",
    )
    add = parser.add_argument
    add(ENV_FILE_FLAG, type=Path, default=None, help="file of LACCHAIN_KEYAGENT_* settings (below flags and env)")
    add("--backend", choices=BACKENDS, default=value("backend"), help="where the key document is stored")
    add("--secret", default=value("secret"), help="the node's secret reference (OrionKeyVault output secretRef)")
    add("--output-dir", type=Path, default=Path(str(value("output_dir", defaults.output_dir))))
    add("--no-create", action="store_true", default=flag("no_create"), help="never generate a key; fail if none")
    add(
        ALLOW_FLAG,
        dest="allow_persistent_dir",
        action="store_true",
        default=flag("allow_persistent_dir"),
        help="write keys even if the output directory is not tmpfs/ramfs (development machines only)",
    )
    add("--retry-attempts", type=int, default=int(str(value("retry_attempts", defaults.retry_attempts))))
    for name in ("tessera_config", "orion_config"):
        template = value(name)
        add(
            f"--{name.replace('_', '-')}",
            type=Path,
            default=Path(str(template)) if template else None,
            help="rendered config to copy into the output directory with every key version",
        )
    aws = parser.add_argument_group("aws (credentials: instance profile or IRSA, never flags)")
    aws.add_argument("--region", default=value("region", env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")))
    aws.add_argument("--endpoint-url", default=value("endpoint_url"), help="Secrets Manager endpoint (VPC endpoint)")
    aws.add_argument("--kms-key-id", default=value("kms_key_id"), help="KMS key for secrets the agent creates")
    aws.add_argument("--tessera-native", action="store_true", default=flag("tessera_native"))
    aws.add_argument("--tessera-endpoint", default=value("tessera_endpoint"), help="endpoint Tessera should use")
    gcp = parser.add_argument_group("gcp (credentials: metadata server / workload identity)")
    gcp.add_argument(
        "--gcp-metadata-host",
        default=value("gcp_metadata_host", env.get("GCE_METADATA_HOST", defaults.gcp_metadata_host)),
    )
    gcp.add_argument("--gcp-api", default=value("gcp_api", defaults.gcp_api))
    vault = parser.add_argument_group("vault (credentials: Kubernetes service account token)")
    vault.add_argument("--vault-addr", default=value("vault_addr", env.get("VAULT_ADDR")))
    vault.add_argument("--vault-role", default=value("vault_role"))
    vault.add_argument("--vault-auth-mount", default=value("vault_auth_mount", defaults.vault_auth_mount))
    vault.add_argument("--vault-kv-mount", default=value("vault_kv_mount", defaults.vault_kv_mount))
    vault.add_argument("--vault-namespace", default=value("vault_namespace", env.get("VAULT_NAMESPACE")))
    vault.add_argument("--vault-ca-file", default=value("vault_ca_file", env.get("VAULT_CACERT")))
    k8s = parser.add_argument_group("kubernetes (credentials: service account token)")
    k8s.add_argument("--namespace", default=value("namespace"))
    mount = value("mount_dir")
    k8s.add_argument("--mount-dir", type=Path, default=Path(str(mount)) if mount else None)
    k8s.add_argument("--kubernetes-api", default=value("kubernetes_api", defaults.kubernetes_api))
    k8s.add_argument("--kubernetes-ca-file", default=value("kubernetes_ca_file", defaults.kubernetes_ca_file))
    parser.add_argument("--token-file", default=value("token_file", defaults.token_file))
    return parser


ENV_FILE_FLAG = "--env-file"


def read_env_file(path: Path) -> dict[str, str]:
    """``LACCHAIN_KEYAGENT_NAME=value`` lines (blank lines and ``#`` comments skipped, values taken literally, as
    systemd's ``EnvironmentFile`` and docker's ``--env-file`` read them). Anything but the agent's own settings is
    refused: the file configures this agent, it cannot slip credentials or other variables into it."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{ENV_FILE_FLAG} ({ENV_PREFIX}ENV_FILE): cannot read {path} ({exc.strerror})") from None
    settings: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, separator, setting = line.partition("=")
        if not separator or not name.startswith(ENV_PREFIX) or name.upper() != name or " " in name:
            raise ConfigError(f"{path} line {number}: not a {ENV_PREFIX}NAME=value setting")
        settings[name] = setting
    return settings


def _env_file(argv: Sequence[str], env: Mapping[str, str]) -> Path | None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument(ENV_FILE_FLAG, type=Path, default=None)
    known, _ = pre.parse_known_args(list(argv))
    named = env.get(f"{ENV_PREFIX}ENV_FILE")
    return known.env_file or (Path(named) if named else None)


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> AgentConfig:
    path = _env_file(argv, env)
    settings = {**read_env_file(path), **env} if path is not None else dict(env)  # the environment wins
    args = vars(_parser(settings).parse_args(list(argv)))
    args.pop("env_file")
    args["allow_create"] = not args.pop("no_create")
    args["backend"] = args["backend"] or ""
    args["secret"] = args["secret"] or ""
    return AgentConfig(**args).validate()


def load_templates(config: AgentConfig) -> TmTemplates:
    """Read the rendered transaction-manager configuration now, so a missing file stops the agent before it
    touches the key store."""

    def read(path: Path | None, setting: str) -> str | None:
        if path is None:
            return None
        try:
            return path.read_text()
        except OSError as exc:
            raise ConfigError(f"{field_label(setting)}: cannot read {path} ({exc.strerror})") from None

    return TmTemplates(read(config.tessera_config, "tessera_config"), read(config.orion_config, "orion_config"))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    environment = os.environ if env is None else env
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == [rpc_tls.COMMAND]:
        return rpc_tls.main(arguments[1:])
    try:
        config = parse_config(arguments, environment)
        templates = load_templates(config)
        wiring = build(config)
        run(
            wiring.store,
            config.output_dir,
            allow_create=config.allow_create,
            allow_persistent_dir=config.allow_persistent_dir,
            tessera=wiring.tessera,
            templates=templates,
        )
    except InvalidInput as exc:
        log.error("%s", exc)
        return 2
    except KeyAgentError as exc:
        log.error("%s", exc)
        return exc.exit_code
    return 0
