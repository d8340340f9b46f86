"""``python -m services.keyagent`` as systemd and Kubernetes run it: environment in, files and exit code out."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from lacchain.errors import InvalidInput
from lacchain.tm.keys import TmKeyPair
from services.keyagent.cli import parse_config
from services.keyagent.output import MEMORY_FILESYSTEMS, MOUNTINFO, filesystem_type
from tests.standins import ROOT


def _agent(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.keyagent", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_cli_boots_twice_with_the_same_identity(aws_env: str, memory_dir: Path) -> None:
    name = f"lacchain/cli-{uuid.uuid4().hex[:6]}/writer-1/tm-keys"
    env = {
        "LACCHAIN_KEYAGENT_BACKEND": "aws",
        "LACCHAIN_KEYAGENT_SECRET": name,
        "LACCHAIN_KEYAGENT_ENDPOINT_URL": aws_env,
        "LACCHAIN_KEYAGENT_OUTPUT_DIR": str(memory_dir),
    }
    first = _agent(env)
    pair = TmKeyPair.from_private_key_file((memory_dir / "nodeKey.key").read_text())
    second = _agent(env)

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "created transaction manager key" in first.stderr and "loaded" in second.stderr
    assert pair.public_key_b64 in second.stderr
    assert pair.private_key_b64 not in first.stderr + second.stderr
    assert TmKeyPair.from_private_key_file((memory_dir / "nodeKey.key").read_text()) == pair


@pytest.mark.slow
def test_cli_exit_codes_tell_failures_apart(aws_env: str, memory_dir: Path, tmp_path: Path) -> None:
    client = boto3.client("secretsmanager", endpoint_url=aws_env, region_name="us-east-1")
    name = f"lacchain/cli-{uuid.uuid4().hex[:6]}/writer-1/tm-keys"
    client.create_secret(Name=name)
    base = {
        "LACCHAIN_KEYAGENT_BACKEND": "aws",
        "LACCHAIN_KEYAGENT_SECRET": name,
        "LACCHAIN_KEYAGENT_ENDPOINT_URL": aws_env,
    }

    missing = _agent({**base, "LACCHAIN_KEYAGENT_OUTPUT_DIR": str(memory_dir)}, "--no-create")
    persistent = _agent({**base, "LACCHAIN_KEYAGENT_OUTPUT_DIR": str(tmp_path / "keys")})
    allowed = _agent({**base, "LACCHAIN_KEYAGENT_OUTPUT_DIR": str(tmp_path / "keys")}, "--allow-persistent-dir")
    misconfigured = _agent({"LACCHAIN_KEYAGENT_BACKEND": "vault", "LACCHAIN_KEYAGENT_SECRET": "a/b"})

    assert missing.returncode == 5 and "creation is disabled" in missing.stderr
    if filesystem_type(tmp_path.resolve(), MOUNTINFO.read_text()) not in MEMORY_FILESYSTEMS:
        assert persistent.returncode == 3 and "--allow-persistent-dir" in persistent.stderr
    assert allowed.returncode == 0 and (tmp_path / "keys" / "nodeKey.key").exists()
    assert misconfigured.returncode == 2
    assert "--vault-addr (LACCHAIN_KEYAGENT_VAULT_ADDR)" in misconfigured.stderr
    assert "--vault-role (LACCHAIN_KEYAGENT_VAULT_ROLE)" in misconfigured.stderr


def test_flags_override_environment_and_every_problem_is_listed() -> None:
    config = parse_config(
        ["--secret", "from-flag", "--no-create"],
        {"LACCHAIN_KEYAGENT_BACKEND": "aws", "LACCHAIN_KEYAGENT_SECRET": "from-env"},
    )
    assert config.secret == "from-flag" and not config.allow_create
    with pytest.raises(InvalidInput) as invalid:
        parse_config(["--backend", "gcp", "--secret", "x", "--tessera-native", "--retry-attempts", "0"], {})
    text = str(invalid.value)
    for expected in ("projects/<project>/secrets/<id>", "--tessera-native", "--retry-attempts"):
        assert expected in text


def test_there_is_no_way_to_pass_static_credentials() -> None:
    for flag in ("--aws-access-key-id", "--access-key", "--credentials", "--vault-token"):
        with pytest.raises(SystemExit):
            parse_config(["--backend", "aws", "--secret", "s", flag, "x"], {})
