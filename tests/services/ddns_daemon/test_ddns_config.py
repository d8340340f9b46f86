"""The daemon's configuration: TOML or YAML plus environment overrides, refused with the field and the fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lacchain.errors import InvalidInput
from lacchain.keys import NodeKey
from services.ddns_daemon.config import SourceKind, load_config
from services.ddns_daemon.daemon import check_environment

MINIMAL_TOML = """\
network = "lacchain-pro-testnet"

[function]
url = "https://ddns.example.org/"

[ip]
[[ip.sources]]
kind = "aws-imds"
[[ip.sources]]
kind = "echo"
url = "https://checkip.amazonaws.com"
[[ip.sources]]
kind = "echo"
url = "https://api.ipify.org"
"""


def problems(error: InvalidInput) -> dict[str, str]:
    return {p.field: p.render() for p in error.problems}


def test_a_minimal_toml_gets_lacchain_defaults(tmp_path: Path) -> None:
    path = tmp_path / "ddns.toml"
    path.write_text(MINIMAL_TOML)
    config = load_config(path, environ={})
    assert config.function.url == "https://ddns.example.org"
    assert config.ip.effective_quorum == 2
    assert config.ip.port == 60606
    assert config.ip.sources[0].base_url == "http://169.254.169.254"
    assert str(config.sync.besu_config_file) == "/etc/lacchain/config.toml"
    assert str(config.node_key_file) == "/run/lacchain/keys/key"
    assert config.sync.allowlist_file is None
    assert config.besu.rpc_url == "ws://127.0.0.1:4546"  # the loopback WebSocket: the only endpoint with ADMIN


def test_yaml_and_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "ddns.yaml"
    path.write_text("network: net\nfunction: {url: 'http://127.0.0.1:1'}\nip: {static_address: 52.1.2.3}\n")
    environ = {
        "LACCHAIN_DDNS_FUNCTION__URL": "https://ddns.example.org",
        "LACCHAIN_DDNS_SYNC__INTERVAL_SECONDS": "2.5",
        "LACCHAIN_DDNS_IP__SOURCES": json.dumps([{"kind": "gcp-metadata"}]),
        "LACCHAIN_DDNS_METRICS__ENABLED": "false",
        "UNRELATED": "ignored",
    }
    config = load_config(path, environ=environ)
    assert config.function.url == "https://ddns.example.org"
    assert config.sync.interval_seconds == 2.5
    assert config.ip.sources[0].kind is SourceKind.GCP_METADATA
    assert config.metrics.enabled is False


def test_the_environment_alone_can_configure_the_sidecar() -> None:
    config = load_config(
        None,
        environ={
            "LACCHAIN_DDNS_NETWORK": "net",
            "LACCHAIN_DDNS_FUNCTION__URL": "https://ddns.example.org",
            "LACCHAIN_DDNS_IP__STATIC_ADDRESS": "52.1.2.3",
        },
    )
    assert config.ip.static_address == "52.1.2.3"


def test_every_problem_is_reported_with_its_field_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "ddns.toml"
    path.write_text(
        """\
netwrok = "typo"
role = "miner"
[function]
url = "ftp://ddns.example.org"
[ip]
quorum = 3
[[ip.sources]]
kind = "echo"
[[ip.sources]]
kind = "aws-imds"
[metrics]
port = 70000
"""
    )
    with pytest.raises(InvalidInput) as caught:
        load_config(path, environ={})
    found = problems(caught.value)
    assert "netwrok" in found and "unknown setting" in found["netwrok"]
    assert "network" in found and "required" in found["network"]
    assert "role" in found
    assert "function.url" in found and "http://" in found["function.url"]
    assert "ip.sources[0]" in found and "echo source needs url" in found["ip.sources[0]"]
    assert "metrics.port" in found
    assert str(path) in str(caught.value)


def test_a_quorum_above_the_number_of_sources_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ddns.toml"
    path.write_text(MINIMAL_TOML.replace("[ip]\n", "[ip]\nquorum = 4\n"))
    with pytest.raises(InvalidInput, match="quorum 4 is more than the 3 configured sources"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("ddns.json", "{}", "name the file *.toml"),
        ("ddns.toml", "network = [", "does not parse"),
        ("absent.toml", None, "does not exist"),
    ],
)
def test_an_unreadable_config_file_is_named(tmp_path: Path, name: str, content: str | None, problem: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInput, match=re.escape(problem)) as caught:
        load_config(path, environ={})
    assert caught.value.problems[0].field == "--config"


def test_the_environment_check_names_unusable_files_without_showing_the_key(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    secret = "0x" + "zz" * 32
    key_file.write_text(secret)
    path = tmp_path / "ddns.toml"
    path.write_text(
        MINIMAL_TOML.replace(
            'network = "lacchain-pro-testnet"\n',
            f'network = "n"\nnode_key_file = "{key_file}"\nstate_dir = "{tmp_path / "state"}"\n',
        )
        + f'[sync]\nbesu_config_file = "{tmp_path / "missing.toml"}"\nstatic_nodes_file = "{tmp_path / "no" / "x.json"}"\n'
    )
    with pytest.raises(InvalidInput) as caught:
        check_environment(load_config(path, environ={}))
    found = problems(caught.value)
    assert set(found) == {"node_key_file", "sync.besu_config_file", "sync.static_nodes_file"}
    assert secret not in str(caught.value) and "zz" not in str(caught.value)


def test_the_environment_check_returns_the_node_key(tmp_path: Path) -> None:
    key = NodeKey.generate()
    key.write(tmp_path / "keys")
    (tmp_path / "config.toml").write_text("p2p-port=60606\n")
    path = tmp_path / "ddns.toml"
    path.write_text(
        MINIMAL_TOML.replace(
            'network = "lacchain-pro-testnet"\n',
            f'network = "n"\nnode_key_file = "{tmp_path / "keys" / "key"}"\nstate_dir = "{tmp_path / "state"}"\n',
        )
        + f'[sync]\nbesu_config_file = "{tmp_path / "config.toml"}"\nstatic_nodes_file = "{tmp_path / "s.json"}"\n'
    )
    assert check_environment(load_config(path, environ={})).node_id == key.node_id


def test_a_bad_extra_boot_node_is_named_by_its_index(tmp_path: Path) -> None:
    path = tmp_path / "ddns.toml"
    path.write_text(MINIMAL_TOML + '[sync]\nextra_boot_nodes = ["enode://abc@1.2.3.4:60606"]\n')
    with pytest.raises(InvalidInput) as caught:
        load_config(path, environ={})
    assert "sync.extra_boot_nodes[0]" in problems(caught.value)


def test_the_default_rpc_endpoint_is_the_one_besu_serves_admin_and_perm_on() -> None:
    """The daemon's default must be the endpoint the rendered config.toml gives ADMIN/PERM: the loopback WebSocket,
    never the HTTP endpoint nginx publishes."""
    from urllib.parse import urlsplit

    from lacchain.besu.config import BesuNodeSettings, Permissioning, config_values
    from lacchain.besu.releases import DEFAULT_BESU_VERSION, besu_release
    from lacchain.presets import Consensus
    from lacchain.roles import Role
    from services.ddns_daemon.config import BesuSettings

    rendered = config_values(
        BesuNodeSettings(
            role=Role.WRITER,
            release=besu_release(DEFAULT_BESU_VERSION),
            consensus=Consensus.IBFT2,
            permissioning=Permissioning("local"),
        )
    )
    default = urlsplit(BesuSettings().rpc_url or "")
    assert default.scheme == "ws"
    assert (default.hostname, default.port) == (rendered["rpc-ws-host"], rendered["rpc-ws-port"])
    assert {"ADMIN", "PERM"} <= set(rendered["rpc-ws-api"])
    assert not {"ADMIN", "PERM"} & set(rendered["rpc-http-api"])


@pytest.mark.parametrize("url", ["ws://127.0.0.1:4546", "wss://besu.internal:4546", "http://127.0.0.1:8545"])
def test_the_rpc_url_takes_websocket_and_http(tmp_path: Path, url: str) -> None:
    path = tmp_path / "ddns.toml"
    path.write_text(MINIMAL_TOML)
    assert load_config(path, environ={"LACCHAIN_DDNS_BESU__RPC_URL": url}).besu.rpc_url == url


def test_an_rpc_url_of_another_scheme_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ddns.toml"
    path.write_text(MINIMAL_TOML)
    with pytest.raises(InvalidInput) as failure:
        load_config(path, environ={"LACCHAIN_DDNS_BESU__RPC_URL": "tcp://127.0.0.1:4546"})
    assert "ws://" in problems(failure.value)["besu.rpc_url"]
