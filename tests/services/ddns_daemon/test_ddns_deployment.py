"""How the daemon is deployed: the systemd unit (hardened, verified by systemd itself), the sidecar image and the
example configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lacchain import layout
from services.ddns_daemon.config import DEFAULT_STATE_DIR, load_config
from tests.standins import ROOT

SERVICE_DIR = ROOT / "services" / "ddns_daemon"
UNIT = SERVICE_DIR / "lacchain-ddns.service"
DOCKERFILE = ROOT / "images" / "ddns-daemon" / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_is_hardened_and_writes_only_the_config_and_state_directories() -> None:
    unit = unit_settings()
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["Restart"] == ["always"]
    assert unit["ReadWritePaths"] == [f"{layout.CONFIG_DIR} {DEFAULT_STATE_DIR}"]
    assert unit["StateDirectory"] == [DEFAULT_STATE_DIR.name]
    assert unit["User"] != ["root"] and unit["CapabilityBoundingSet"] == [""]
    exec_start = unit["ExecStart"][0].split()
    assert exec_start[1:3] == ["-m", "services.ddns_daemon"] and exec_start[-1] == "run"
    # The key arrives as a credential; the daemon reads it where the environment points.
    assert unit["LoadCredential"] == [f"nodekey:{layout.NODE_KEY_FILE}"]
    assert "LACCHAIN_DDNS_NODE_KEY_FILE=%d/nodekey" in unit["Environment"]


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (Debian package systemd)")
def test_systemd_accepts_the_unit_and_rates_it_well_hardened(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this interpreter, keep everything else.
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace("/opt/lacchain/venv/bin/python", sys.executable))
    assert SYSTEMD_ANALYZE is not None
    verify = subprocess.run([SYSTEMD_ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    security = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout + security.stderr)
    assert level is not None, security.stdout + security.stderr
    assert float(level.group(1)) <= 2.0  # systemd's scale: 0 fully locked down ... 10 fully exposed


def test_the_sidecar_image_is_lint_clean_and_runs_the_daemon_unprivileged() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", text, re.MULTILINE)
    assert re.findall(r"^USER (\S+)", text, re.MULTILINE)[-1].split(":")[0] not in ("0", "root")
    assert 'ENTRYPOINT ["python", "-m", "services.ddns_daemon"]' in text


def test_the_image_requirements_are_the_versions_installed_here() -> None:
    from importlib.metadata import version

    requirements = (ROOT / "images" / "ddns-daemon" / "requirements.txt").read_text().splitlines()
    pinned = dict(line.split("==") for line in requirements if line and not line.startswith("#"))
    needed = {"httpx", "pydantic", "typer", "prometheus_client", "coincurve", "eth-hash", "PyYAML", "websockets", "rlp"}
    assert needed <= set(pinned)
    assert {name: version(name) for name in pinned} == pinned


def test_the_example_configuration_is_valid() -> None:
    config = load_config(SERVICE_DIR / "config.example.toml", environ={})
    assert config.ip.effective_quorum == 2
    assert config.sync.allowlist_file == Path(layout.PERMISSIONS_FILE)
