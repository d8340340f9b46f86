"""`lacchain keys rotate` as an operator runs it, against moto's Secrets Manager: the node keeps its old key."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from lacchain.tm.keys import TmKeyPair
from lacchain_cli.main import app
from services.keyagent.cli import main as agent_main

runner = CliRunner()


@pytest.mark.slow
def test_rotation_adds_a_key_and_keeps_the_old_one_for_the_node(aws_env: str, memory_dir: Path) -> None:
    secret = f"lacchain/acme/writer-1/tm-keys-{uuid.uuid4().hex[:8]}"
    boto3.client("secretsmanager", endpoint_url=aws_env).create_secret(Name=secret)
    store = ["--backend", "aws", "--secret", secret, "--region", "us-east-1", "--endpoint-url", aws_env]
    assert agent_main([*store, "--output-dir", str(memory_dir)]) == 0
    first = TmKeyPair.from_private_key_file((memory_dir / "nodeKey.key").read_text())

    rotated = runner.invoke(app, ["keys", "rotate", "writer-1", *store])
    assert rotated.exit_code == 0, rotated.output
    assert f"old public key  {first.public_key_b64}" in rotated.output
    assert first.private_key_b64 not in rotated.output

    second_boot = memory_dir / "second"
    second_boot.mkdir()
    assert agent_main([*store, "--output-dir", str(second_boot)]) == 0
    current = TmKeyPair.from_private_key_file((second_boot / "nodeKey.key").read_text())
    assert current != first
    assert f"new public key  {current.public_key_b64}" in rotated.output
    on_disk = {p.read_text().strip() for p in second_boot.glob("*.pub")}
    assert first.public_key_b64 in on_disk, "the old key must stay available to decrypt old payloads"


def test_rotation_of_a_store_with_no_key_names_the_fix(aws_env: str) -> None:
    secret = f"lacchain/acme/writer-9/tm-keys-{uuid.uuid4().hex[:8]}"
    boto3.client("secretsmanager", endpoint_url=aws_env).create_secret(Name=secret)
    refused = runner.invoke(
        app,
        ["keys", "rotate", "writer-9", "--backend", "aws", "--secret", secret, "--region", "us-east-1",
         "--endpoint-url", aws_env],
    )  # fmt: skip
    assert refused.exit_code == 2
    assert "start the node once" in refused.output


def test_rotation_needs_a_store() -> None:
    refused = runner.invoke(app, ["keys", "rotate", "writer-1"])
    assert refused.exit_code == 2 and "backend" in refused.output
