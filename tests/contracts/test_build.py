"""The committed artifacts match a fresh compile, and they expose the interface Besu calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import function_signature_to_4byte_selector

from contracts import artifact_names, build, load_artifact
from contracts.build import BuildResult, compile_sources, main, pinned_solc_version, stale_artifacts, write_artifacts

# Besu's NodeSmartContractV2PermissioningController calls exactly this (see src/NodePermissioning.sol).
BESU_V2_CALL = {
    "name": "connectionAllowed",
    "inputs": ["string", "string", "uint16"],
    "outputs": ["bool"],
}


@pytest.fixture(scope="module")
def fresh() -> BuildResult:
    return compile_sources()


def test_committed_artifacts_are_up_to_date(fresh: BuildResult) -> None:
    assert stale_artifacts(fresh) == []
    assert fresh.warnings == []


def test_check_names_a_stale_artifact(fresh: BuildResult, tmp_path: Path) -> None:
    write_artifacts(fresh, tmp_path)
    assert stale_artifacts(fresh, tmp_path) == []
    rules = tmp_path / "NodeRules.json"
    rules.write_text(rules.read_text().replace('"runs": 200', '"runs": 201'))
    (tmp_path / "Gone.json").write_text("{}")
    (tmp_path / "Admin.json").unlink()
    problems = stale_artifacts(fresh, tmp_path)
    assert len(problems) == 3
    assert any("NodeRules.json differs" in line for line in problems)
    assert any("Admin.json is missing" in line for line in problems)
    assert any("Gone.json has no source contract" in line for line in problems)


def test_check_command_exit_codes(
    fresh: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(build, "compile_sources", lambda: fresh)  # the fixture's compile, not a second one
    assert main(["--check"]) == 0
    assert "artifacts up to date" in capsys.readouterr().out

    write_artifacts(fresh, tmp_path)
    (tmp_path / "NodeIngress.json").write_text("{}\n")
    monkeypatch.setattr(build, "ARTIFACTS_DIR", tmp_path)
    assert main(["--check"]) == 1
    assert "stale artifact:" in capsys.readouterr().err


def test_artifacts_record_compiler_and_sources() -> None:
    names = artifact_names()
    assert names == ["Admin", "NodeIngress", "NodeRules", "NodeRulesV1"]
    hashes = set()
    for name in names:
        artifact = load_artifact(name)
        assert artifact["compiler"]["version"].startswith(pinned_solc_version() + "+")
        assert artifact["compiler"]["settings"]["optimizer"]["enabled"] is True
        assert artifact["bytecode"].startswith("0x6080") and len(artifact["deployedBytecode"]) > 2
        assert artifact["immutableReferences"] == {}, "genesis alloc cannot set immutables"
        hashes.add(artifact["sourcesSha256"])
    assert len(hashes) == 1


def test_artifact_json_is_canonical() -> None:
    for name in artifact_names():
        text = (Path(__file__).resolve().parents[2] / "contracts" / "artifacts" / f"{name}.json").read_text()
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("name", ["NodeIngress", "NodeRules"])
def test_besu_v2_interface(name: str) -> None:
    functions = [item for item in load_artifact(name)["abi"] if item.get("name") == BESU_V2_CALL["name"]]
    assert len(functions) == 1
    function = functions[0]
    assert [i["type"] for i in function["inputs"]] == BESU_V2_CALL["inputs"]
    assert [o["type"] for o in function["outputs"]] == BESU_V2_CALL["outputs"]
    assert function["stateMutability"] == "view"
    selector = function_signature_to_4byte_selector("connectionAllowed(string,string,uint16)")
    # The selector Besu computes is in the dispatcher of the runtime code.
    assert selector.hex() in load_artifact(name)["deployedBytecode"]


def test_ingress_names_match_upstream() -> None:
    abi_names = {item.get("name") for item in load_artifact("NodeIngress")["abi"]}
    assert {
        "getContractAddress",
        "setContractAddress",
        "removeContract",
        "getAllContractKeys",
        "isAuthorized",
        "emitRulesChangeEvent",
        "RULES_CONTRACT",
        "ADMIN_CONTRACT",
        "NodePermissionsUpdated",
        "RegistryUpdated",
    } <= abi_names
