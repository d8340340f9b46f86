"""The systemd unit and the container image run the agent the way the rest of the node expects."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from lacchain.kubernetes import NODE_UID
from lacchain.layout import SECRETS_DIR
from tests.standins import ROOT

UNIT = ROOT / "services" / "keyagent" / "lacchain-keyagent.service"
DOCKERFILE = ROOT / "images" / "keyagent" / "Dockerfile"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_is_a_oneshot_writing_to_the_layouts_memory_directory() -> None:
    service = _unit()["Service"]
    assert service["Type"] == "oneshot" and service["RemainAfterExit"] == "yes"
    assert "/run/" + service["RuntimeDirectory"] == SECRETS_DIR
    assert service["Environment"] == f"LACCHAIN_KEYAGENT_OUTPUT_DIR={SECRETS_DIR}"
    assert service["ExecStart"].endswith("-m services.keyagent")
    assert set(service["RestartPreventExitStatus"].split()) == {"2", "3", "5", "6"}
    assert service["User"] != "root"


def test_unit_passes_systemd_analyze() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    result = subprocess.run([analyze, "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if "is not executable" not in line and line.strip()]
    assert problems == []  # the venv path exists only on the node image


def test_dockerfile_is_hadolint_clean_and_non_root() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    text = DOCKERFILE.read_text()
    # the node's one uid: Besu and the transaction manager read the 0600 key files the agent writes
    assert f"\nUSER {NODE_UID}:{NODE_UID}\n" in text
    assert 'ENTRYPOINT ["python", "-m", "services.keyagent"]' in text


REQUIREMENTS = ROOT / "images" / "keyagent" / "requirements.txt"
OPTIONAL_FOR_HTTPX = {"click", "rich", "pygments"}
"""httpx imports its command-line extras only when they happen to be installed (they are, in the dev venv)."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _image_pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, separator, version = line.partition("==")
            assert separator, f"{line!r} is not pinned with =="
            pins[canonical(name)] = version
    return pins


def _distributions_loaded_by(code: str) -> set[str]:
    probe = f"import json, sys; {code}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    providers = metadata.packages_distributions()
    return {canonical(providers[m][0]) for m in json.loads(result.stdout) if m in providers}


def test_image_installs_the_tested_versions_at_the_project_pins() -> None:
    project = {}
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, _, version = spec.partition("==")
        project[canonical(name.split("[")[0])] = version
    pins = _image_pins()
    for name, version in pins.items():
        assert metadata.version(name) == version, f"{name}=={version}, tests ran {metadata.version(name)}"
        assert project.get(name, version) == version, f"{name}=={version}, pyproject pins {project[name]}"
    assert "images/keyagent/requirements.txt /tmp/requirements.txt" in DOCKERFILE.read_text()


def test_image_installs_every_distribution_the_agent_imports() -> None:
    needed = _distributions_loaded_by("import services.keyagent.cli") - _distributions_loaded_by("pass")
    needed -= {"lacchain-cloud"} | OPTIONAL_FOR_HTTPX
    assert needed, "the probe saw no third-party imports at all"
    missing = needed - set(_image_pins())
    assert missing == set(), f"the agent imports distributions the image does not install: {sorted(missing)}"
