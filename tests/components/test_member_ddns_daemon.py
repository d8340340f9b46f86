"""The DDNS daemon on nodes: VM nodes named in the network's DDNS zone run it, configured to follow their public
address and keep their peers current; Kubernetes nodes (whose names follow their LoadBalancer) do not."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from lacchain import layout
from lacchain.keys import NodeKey
from lacchain_cli.synth import SynthResult, write_output
from services.ddns_daemon.config import load_config
from tests.components.harness import synth
from tests.standins import ROOT

URL = "https://ddns.acme.example.org"
BOOTNODE = "enode://" + "ab" * 64 + "@203.0.113.10:60606"


def document(**ddns: Any) -> dict[str, Any]:
    return {
        "member": "acme",
        "devKeySeed": "ddns test",
        "network": {
            "preset": "custom",
            "chainId": 1337,
            "bootnodes": [BOOTNODE],
            "permissioning": {"mode": "local"},
            "ddns": {"network": "acme-net", "zone": "nodes.acme.example.org", "url": URL, **ddns},
        },
        "nodes": [
            {
                "name": "boot-1",
                "role": "boot",
                "platform": "aws",
                "staticAddress": False,
                "dnsName": "boot-1.nodes.acme.example.org",
                "placement": {"region": "sa-east-1"},
            },
            {
                "name": "validator-1",
                "role": "validator",
                "platform": "kubernetes",
                "dnsName": "validator-1.nodes.acme.example.org",
                "placement": {"namespace": "acme"},
            },
        ],
    }


@pytest.fixture(scope="module")
def synthesized() -> tuple[SynthResult, Path]:
    result = synth(document(), ROOT)
    out = Path(tempfile.mkdtemp(prefix="ddns-daemon-"))
    write_output(result, out, "acme")
    return result, out


def test_the_vm_node_gets_a_config_the_daemon_itself_accepts(synthesized: tuple[SynthResult, Path]) -> None:
    _, out = synthesized
    config_file = out / "nodes" / "boot-1" / layout.DDNS_DAEMON_CONFIG
    config = load_config(config_file, environ={})
    assert str(config.function.url).rstrip("/") == URL
    assert config.network == "acme-net"
    assert config.ip.port == 60606
    assert len(config.ip.sources) == 3 and config.ip.effective_quorum == 2
    assert str(config.besu.rpc_url) == f"ws://127.0.0.1:{layout.RPC_WS_PORT}"
    assert config.sync.allowlist_file is not None
    assert BOOTNODE in [str(e) for e in config.sync.extra_boot_nodes]
    key = NodeKey.derive_dev_key("ddns test", "boot-1")
    assert key.hex[2:] not in config_file.read_text()


def test_the_vm_runs_the_daemon_with_that_config_and_writable_peer_files(
    synthesized: tuple[SynthResult, Path],
) -> None:
    _, out = synthesized
    cloud_config = yaml.safe_load((out / "nodes" / "boot-1" / "cloud-init.yaml").read_text())
    files = {f["path"]: f.get("content", "") for f in cloud_config["write_files"]}
    unit = files["/etc/systemd/system/lacchain-ddns.service"]
    assert "ghcr.io/lacchain-cloud/ddns-daemon:" in unit
    assert f"--config {layout.CONFIG_DIR}/{layout.DDNS_DAEMON_CONFIG} run" in unit
    assert f"source={layout.CONFIG_DIR},target={layout.CONFIG_DIR}" in unit.replace(",readonly", "!RO")
    bootstrap = next(text for path, text in files.items() if path.endswith("lacchain-bootstrap"))
    assert f"chown 1000:1000 {layout.CONFIG_DIR}" in bootstrap


def test_kubernetes_nodes_do_not_run_the_daemon(synthesized: tuple[SynthResult, Path]) -> None:
    _, out = synthesized
    assert not (out / "nodes" / "validator-1" / "ddns").exists()
    assert "ddns-daemon" not in (out / "nodes" / "validator-1" / "kubernetes.yaml").read_text()


def test_without_a_ddns_no_node_runs_the_daemon() -> None:
    doc = document()
    del doc["network"]["ddns"]
    result = synth(doc, ROOT)
    assert "ddns-daemon" not in str([r.inputs for r in result.resources])
