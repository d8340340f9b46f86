"""The `lacchain` command as a user runs it: keys, genesis, schema, synth and diff."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lacchain_cli.main import app
from tests.unit.test_genesis import LACCHAIN_EXTRA_DATA, LACCHAIN_VALIDATOR
from tests.unit.test_keys import BESU_DEV_ADDRESS, BESU_DEV_KEY

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_keys_new_then_inspect(tmp_path: Path) -> None:
    created = runner.invoke(app, ["keys", "new", "--out", str(tmp_path / "v1")])
    assert created.exit_code == 0, created.output
    assert (tmp_path / "v1" / "key").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(app, ["keys", "new", "--out", str(tmp_path / "v1")])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output


def test_keys_inspect_prints_id_address_and_enode_but_never_the_key(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("0x" + BESU_DEV_KEY)
    shown = runner.invoke(app, ["keys", "inspect", str(tmp_path / "key"), "--host", "boot.example.org"])
    assert shown.exit_code == 0, shown.output
    assert BESU_DEV_ADDRESS in shown.output
    assert "@boot.example.org:60606" in shown.output
    assert BESU_DEV_KEY not in shown.output


def test_genesis_prints_the_lacchain_extra_data() -> None:
    printed = runner.invoke(app, ["genesis", "--validators", LACCHAIN_VALIDATOR, "--preset", "lacchain-pro-testnet"])
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.stdout)
    assert document["extraData"] == LACCHAIN_EXTRA_DATA and document["config"]["chainId"] == 648539


def test_genesis_without_chain_id_names_the_flag() -> None:
    refused = runner.invoke(app, ["genesis", "--validators", LACCHAIN_VALIDATOR])
    assert refused.exit_code == 2 and "--chain-id" in refused.output


def test_schema_is_json() -> None:
    printed = runner.invoke(app, ["schema"])
    assert json.loads(printed.stdout)["title"].startswith("lacchain-cloud")


def test_synth_of_the_embedded_default_is_byte_identical_between_runs(tmp_path: Path) -> None:
    for run in ("a", "b"):
        done = runner.invoke(
            app, ["synth", "--stack", "local", "--project-dir", str(ROOT), "--out", str(tmp_path / run)]
        )
        assert done.exit_code == 0, done.output
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    assert Path("plan.json") in files_a and Path("nodes/writer-1/tm/tessera.json") in files_a
    for relative in files_a:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative
    assert runner.invoke(app, ["diff", str(tmp_path / "a"), str(tmp_path / "b")]).stdout == "no changes\n"


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "stacks" / "Pulumi.local.yaml", project / "stacks" / "Pulumi.local.yaml")
    return project


def test_diff_shows_what_a_stack_change_does(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    assert runner.invoke(app, ["synth", "--project-dir", str(project), "--out", str(tmp_path / "old")]).exit_code == 0
    stack_file = project / "stacks" / "Pulumi.local.yaml"
    stack_file.write_text(stack_file.read_text().replace("diskGb: 80", "diskGb: 120"))
    assert runner.invoke(app, ["synth", "--project-dir", str(project), "--out", str(tmp_path / "new")]).exit_code == 0
    shown = runner.invoke(app, ["diff", str(tmp_path / "old"), str(tmp_path / "new")])
    assert shown.exit_code == 1
    assert "0 to add, 1 to change, 0 to remove" in shown.stdout
    assert "PersistentVolumeClaim::local-writer-1-data" in shown.stdout
    assert "inputs.spec.resources.requests.storage: 80Gi -> 120Gi" in shown.stdout


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("role: writer", "role: writr"), "nodes[2] (writer-1).role"),
        (("diskGb: 50\n", "diskGb: 50\n      color: blue\n"), "color: unknown key"),
        (("chainId: 1337", "chainId: -1"), "network.chainId"),
        (
            ("  lacchain-cloud:nodes:", "  lacchain-cloud:nodes: oops\n  x:"),
            "lacchain-cloud:nodes: Input should be a valid list (got 'oops')",
        ),
    ],
)
def test_synth_refuses_a_bad_stack_file_naming_the_field(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    project = copy_project(tmp_path)
    stack_file = project / "stacks" / "Pulumi.local.yaml"
    stack_file.write_text(stack_file.read_text().replace(*edit, 1))
    refused = runner.invoke(app, ["synth", "--project-dir", str(project), "--out", str(tmp_path / "out")])
    assert refused.exit_code == 2, refused.output
    assert expected in refused.output
    assert not (tmp_path / "out").exists()


def test_synth_of_an_unknown_stack_lists_the_known_ones(tmp_path: Path) -> None:
    refused = runner.invoke(app, ["synth", "--stack", "nope", "--project-dir", str(ROOT), "--out", str(tmp_path)])
    assert refused.exit_code == 2 and "local" in refused.output


def test_encrypted_keys_need_the_cli_or_a_keys_directory(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    stack_file = project / "stacks" / "Pulumi.local.yaml"
    text = stack_file.read_text().replace("  lacchain-cloud:devKeySeed: lacchain-cloud local development network\n", "")
    text += "  lacchain-cloud:nodeKeys:\n    validator-1:\n      secure: AAABAKx\n"
    stack_file.write_text(text)
    refused = runner.invoke(app, ["synth", "--project-dir", str(project), "--out", str(tmp_path / "out")])
    assert refused.exit_code == 2 and "nodeKeys.validator-1" in refused.output and "--node-keys" in refused.output

    for node in ("validator-1", "boot-1", "writer-1"):
        assert runner.invoke(app, ["keys", "new", "--out", str(tmp_path / "keys" / node)]).exit_code == 0
    done = runner.invoke(
        app,
        ["synth", "--project-dir", str(project), "--node-keys", str(tmp_path / "keys"), "--out", str(tmp_path / "out")],
    )
    assert done.exit_code == 0, done.output
    key = (tmp_path / "keys" / "writer-1" / "key").read_text()[2:]
    assert not any(key in p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
