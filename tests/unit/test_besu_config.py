"""Besu config.toml per role, checked against the option lists of the Besu releases we target.

The reference lists come from ``../shared/reference/`` (taken from Besu's source), not from our packaged copy, so a
drift between the two is caught too.
"""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path

import pytest

from lacchain.besu.config import (
    BesuConfigError,
    BesuNodeSettings,
    Permissioning,
    config_values,
    render_config_toml,
    render_permissions_config,
    render_static_nodes,
)
from lacchain.besu.releases import besu_release, supported_versions
from lacchain.presets import Consensus
from lacchain.roles import Role

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
PERMISSIONING = {
    "none": Permissioning("none"),
    "local": Permissioning("local"),
    "onchain": Permissioning("onchain", 2, "0x" + "0" * 36 + "9999", "0x" + "0" * 36 + "8888", accounts=True),
}
ENODE = "enode://" + "ab" * 64 + "@boot-1.example.org:60606"


def reference_options(version: str) -> set[str]:
    text = (REFERENCE / f"besu-{version}-options.txt").read_text()
    return {line.strip() for line in text.splitlines() if line.strip().startswith("--")}


def test_packaged_option_lists_match_the_reference() -> None:
    for version in supported_versions():
        assert besu_release(version).options == reference_options(version)


def all_settings(version: str) -> list[BesuNodeSettings]:
    release = besu_release(version)
    combos = []
    for role, consensus, privacy, perm, k8s, push in itertools.product(
        Role, Consensus, (False, True), PERMISSIONING, (False, True), (None, "pushgateway.example.org")
    ):
        if privacy and (role is not Role.WRITER or not release.supports_privacy):
            continue
        if perm == "onchain" and not release.supports_onchain_permissioning:
            continue
        combos.append(
            BesuNodeSettings(
                role=role,
                release=release,
                consensus=consensus,
                advertised_ip=None if k8s else "203.0.113.10",
                bootnodes=[ENODE],
                privacy=privacy,
                permissioning=PERMISSIONING[perm],
                dns_hosts=True,
                on_kubernetes=k8s,
                metrics_push_host=push,
            )
        )
    return combos


@pytest.mark.parametrize("version", ["24.12.2", "25.12.0"])
def test_every_key_is_an_option_of_the_nodes_release(version: str) -> None:
    options = reference_options(version)
    combos = all_settings(version)
    assert len(combos) > 50
    for settings in combos:
        parsed = tomllib.loads(render_config_toml(settings))
        unknown = [key for key in parsed if f"--{key}" not in options]
        assert not unknown, f"{settings.role} on {version}: {unknown}"


def test_privacy_and_onchain_permissioning_are_refused_on_25() -> None:
    release = besu_release("25.12.0")
    with pytest.raises(BesuConfigError, match="privacy-enabled"):
        config_values(BesuNodeSettings(role=Role.WRITER, release=release, consensus=Consensus.IBFT2, privacy=True))
    with pytest.raises(BesuConfigError, match="permissions-nodes-contract-enabled"):
        config_values(
            BesuNodeSettings(
                role=Role.BOOT, release=release, consensus=Consensus.IBFT2, permissioning=PERMISSIONING["onchain"]
            )
        )


def settings(role: Role, **overrides: object) -> BesuNodeSettings:
    base = {"role": role, "release": besu_release("24.12.2"), "consensus": Consensus.IBFT2}
    return BesuNodeSettings(**{**base, **overrides})  # type: ignore[arg-type]


def test_lacchain_ports_and_free_gas() -> None:
    values = config_values(settings(Role.WRITER))
    assert values["p2p-port"] == 60606
    assert values["rpc-http-port"] == 4545
    assert values["rpc-ws-port"] == 4546
    assert values["min-gas-price"] == 0


def test_writer_with_transaction_manager_serves_private_apis() -> None:
    values = config_values(settings(Role.WRITER, privacy=True))
    assert {"ETH", "NET", "IBFT", "EEA", "PRIV"} <= set(values["rpc-http-api"])
    assert values["privacy-enabled"] is True
    assert values["privacy-url"] == "http://127.0.0.1:4444"
    assert values["privacy-public-key-file"].endswith("nodeKey.pub")


def test_admin_api_is_only_on_the_loopback_websocket() -> None:
    for role in Role:
        values = config_values(settings(role, permissioning=PERMISSIONING["local"]))
        assert "ADMIN" not in values["rpc-http-api"]
        assert values["rpc-ws-host"] == "127.0.0.1"
        assert {"ADMIN", "PERM"} <= set(values["rpc-ws-api"])


def test_rpc_binds_loopback_on_vms_and_the_pod_ip_on_kubernetes() -> None:
    assert config_values(settings(Role.BOOT))["rpc-http-host"] == "127.0.0.1"
    assert config_values(settings(Role.BOOT, on_kubernetes=True))["rpc-http-host"] == "0.0.0.0"


def test_consensus_api_follows_the_consensus() -> None:
    assert "QBFT" in config_values(settings(Role.VALIDATOR, consensus=Consensus.QBFT))["rpc-http-api"]
    assert "IBFT" in config_values(settings(Role.VALIDATOR))["rpc-http-api"]


def test_dns_hosts_enable_dns_and_kubernetes_also_dns_update() -> None:
    assert config_values(settings(Role.BOOT, dns_hosts=True))["Xdns-enabled"] is True
    assert "Xdns-update-enabled" not in config_values(settings(Role.BOOT, dns_hosts=True))
    assert config_values(settings(Role.BOOT, dns_hosts=True, on_kubernetes=True))["Xdns-update-enabled"] is True
    assert "Xdns-enabled" not in config_values(settings(Role.BOOT))


def test_metrics_push_replaces_pull() -> None:
    pushed = config_values(settings(Role.BOOT, metrics_push_host="gw.example.org", metrics_job="acme-boot-1"))
    assert pushed["metrics-push-enabled"] is True and pushed["metrics-push-port"] == 9091
    assert pushed["metrics-push-prometheus-job"] == "acme-boot-1"
    assert "metrics-enabled" not in pushed
    assert config_values(settings(Role.BOOT))["metrics-enabled"] is True


def test_onchain_permissioning_names_the_ingress_contracts() -> None:
    values = config_values(settings(Role.VALIDATOR, permissioning=PERMISSIONING["onchain"]))
    assert values["permissions-nodes-contract-address"] == "0x0000000000000000000000000000000000009999"
    assert values["permissions-nodes-contract-version"] == 2
    assert values["permissions-accounts-contract-address"] == "0x0000000000000000000000000000000000008888"


def test_advertised_ip_becomes_p2p_host() -> None:
    values = config_values(settings(Role.BOOT, advertised_ip="203.0.113.10"))
    assert values["p2p-host"] == "203.0.113.10" and values["nat-method"] == "NONE"


def test_static_nodes_and_allowlist_files() -> None:
    assert json.loads(render_static_nodes([ENODE])) == [ENODE]
    assert tomllib.loads(render_permissions_config([ENODE, ENODE])) == {"nodes-allowlist": [ENODE]}
