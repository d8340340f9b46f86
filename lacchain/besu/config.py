"""Besu's files for one node: ``config.toml``, ``permissions_config.toml`` and ``static-nodes.json``.

Every key written to ``config.toml`` is checked against the option list of the Besu release the node runs (a key
is an option name without its leading ``--``), so a config that release would refuse at start is refused here,
before anything is deployed. Privacy and onchain permissioning exist only up to the 24.12 line; the stack schema
already refuses nodes that ask for them on a later release, and this check is the backstop.

RPC exposure is deliberately split:
- HTTP JSON-RPC (4545) carries only the role's public APIs. nginx is its only entry from outside the node, and
  Kubernetes probes use Besu's own ``/liveness`` and ``/readiness`` on it.
- WebSocket JSON-RPC (4546) is bound to loopback and additionally carries ADMIN (and PERM with a local allowlist)
  for the node's own sidecars: the DDNS daemon adds and removes peers through it. nginx never proxies it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tomli_w

from lacchain import layout
from lacchain.besu.releases import BesuRelease
from lacchain.errors import LacchainError
from lacchain.presets import Consensus
from lacchain.roles import Role

LOOPBACK = "127.0.0.1"
ANY_INTERFACE = "0.0.0.0"


class BesuConfigError(LacchainError, ValueError):
    """A config.toml the node's Besu release cannot run."""


@dataclass(frozen=True)
class Permissioning:
    """How the node decides which peers (and accounts) may connect."""

    mode: str  # "onchain" | "local" | "none"
    contract_version: int = 1
    nodes_contract: str = ""
    accounts_contract: str = ""
    accounts: bool = False
    """Also permission accounts through the accounts ingress contract (LACChain's networks have one)."""


@dataclass(frozen=True)
class BesuNodeSettings:
    """Everything that decides one node's ``config.toml``."""

    role: Role
    release: BesuRelease
    consensus: Consensus
    p2p_port: int = layout.P2P_PORT
    advertised_ip: str | None = None
    """Public IP peers reach the node at (``p2p-host``); None lets Besu detect it (Kubernetes pods)."""
    bootnodes: Sequence[str] = ()
    privacy: bool = False
    """A transaction manager runs beside this writer (Orion or Tessera, same Besu settings)."""
    permissioning: Permissioning = Permissioning("none")
    dns_hosts: bool = False
    """Some enode of interest has a DNS name as host: Besu must resolve names (``Xdns-enabled``)."""
    on_kubernetes: bool = False
    """Service names re-resolve when pods move (``Xdns-update-enabled``) and RPC binds the pod IP for probes."""
    metrics_push_host: str | None = None
    metrics_job: str = "besu"
    discovery_dns_url: str | None = None


def public_apis(role: Role, consensus: Consensus, privacy: bool) -> list[str]:
    """The JSON-RPC APIs a role serves over HTTP (what applications and monitoring may call)."""
    consensus_api = "IBFT" if consensus is Consensus.IBFT2 else "QBFT"
    apis = ["ETH", "NET", "WEB3"]
    if role in (Role.VALIDATOR, Role.WRITER):
        apis.append(consensus_api)
    if role is Role.WRITER:
        apis.append("TXPOOL")
        if privacy:
            apis += ["EEA", "PRIV"]
    return apis


def local_apis(settings: BesuNodeSettings) -> list[str]:
    """APIs on the loopback-only WebSocket endpoint used by the node's own sidecars."""
    apis = ["ETH", "NET", "ADMIN"]
    if settings.permissioning.mode == "local":
        apis.append("PERM")
    return apis


def config_values(settings: BesuNodeSettings) -> dict[str, Any]:
    """The ``config.toml`` keys and values for a node, in a stable order (grouped as Besu's docs group them)."""
    values: dict[str, Any] = {
        "data-path": layout.BESU_DATA_PATH,
        "genesis-file": layout.GENESIS_FILE,
        "node-private-key-file": layout.NODE_KEY_FILE,
        "sync-mode": "FULL",
        "min-gas-price": 0,
        # P2P
        "p2p-enabled": True,
        "p2p-interface": ANY_INTERFACE,
        "p2p-port": settings.p2p_port,
        "discovery-enabled": True,
        "static-nodes-file": layout.STATIC_NODES_FILE,
    }
    if settings.advertised_ip is not None:
        values["p2p-host"] = settings.advertised_ip
        values["nat-method"] = "NONE"
    if settings.bootnodes:
        values["bootnodes"] = list(settings.bootnodes)
    if settings.discovery_dns_url:
        values["discovery-dns-url"] = settings.discovery_dns_url
    if settings.dns_hosts:
        values["Xdns-enabled"] = True
        if settings.on_kubernetes:
            values["Xdns-update-enabled"] = True
    # RPC
    values |= {
        "rpc-http-enabled": True,
        "rpc-http-host": ANY_INTERFACE if settings.on_kubernetes else LOOPBACK,
        "rpc-http-port": layout.RPC_HTTP_PORT,
        "rpc-http-api": public_apis(settings.role, settings.consensus, settings.privacy),
        "host-allowlist": ["*"] if settings.on_kubernetes else ["localhost", LOOPBACK],
        "rpc-ws-enabled": True,
        "rpc-ws-host": LOOPBACK,
        "rpc-ws-port": layout.RPC_WS_PORT,
        "rpc-ws-api": local_apis(settings),
    }
    if settings.role is Role.WRITER:
        values["revert-reason-enabled"] = True
    # Privacy
    if settings.privacy:
        values |= {
            "privacy-enabled": True,
            "privacy-url": f"http://{LOOPBACK}:{layout.TESSERA_Q2T_PORT}",
            "privacy-public-key-file": layout.TM_PUBLIC_KEY_FILE,
        }
    # Permissioning
    perm = settings.permissioning
    if perm.mode == "onchain":
        values |= {
            "permissions-nodes-contract-enabled": True,
            "permissions-nodes-contract-address": perm.nodes_contract,
            "permissions-nodes-contract-version": perm.contract_version,
        }
        if perm.accounts:
            values |= {
                "permissions-accounts-contract-enabled": True,
                "permissions-accounts-contract-address": perm.accounts_contract,
            }
    elif perm.mode == "local":
        values |= {
            "permissions-nodes-config-file-enabled": True,
            "permissions-nodes-config-file": layout.PERMISSIONS_FILE,
        }
    # Metrics: Besu refuses pull and push together, so push replaces pull when a push gateway is configured.
    if settings.metrics_push_host:
        values |= {
            "metrics-push-enabled": True,
            "metrics-push-host": settings.metrics_push_host,
            "metrics-push-port": layout.METRICS_PUSH_PORT,
            "metrics-push-prometheus-job": settings.metrics_job,
        }
    else:
        values |= {"metrics-enabled": True, "metrics-host": ANY_INTERFACE, "metrics-port": layout.METRICS_PORT}
    check_options(settings.release, values)
    return values


def check_options(release: BesuRelease, values: Mapping[str, Any]) -> None:
    """Refuse any key that is not an option of ``release``."""
    unknown = sorted(key for key in values if not release.has_option(key))
    if unknown:
        raise BesuConfigError(
            f"Besu {release.version} has no option {', '.join('--' + k for k in unknown)}; "
            f"use Besu 24.12.2 for privacy and onchain permissioning"
        )


def render_config_toml(settings: BesuNodeSettings) -> str:
    """The node's ``config.toml``."""
    header = (
        f"# Besu {settings.release.version} {settings.role.value} node. Generated by lacchain-cloud; do not edit.\n"
    )
    return header + tomli_w.dumps(config_values(settings))


def render_static_nodes(enodes: Sequence[str]) -> str:
    """``static-nodes.json``: the peers Besu keeps connections to (sorted, so output is stable)."""
    return json.dumps(sorted(enodes), indent=2) + "\n"


def render_permissions_config(enodes: Sequence[str]) -> str:
    """``permissions_config.toml`` with the local node allowlist (Besu's ``nodes-allowlist`` key)."""
    return tomli_w.dumps({"nodes-allowlist": sorted(set(enodes))})
