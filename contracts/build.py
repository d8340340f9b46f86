"""Compile ``contracts/src/**/*.sol`` with the pinned solcjs and write deterministic artifacts.

    python -m contracts.build            # (re)write contracts/artifacts/<Name>.json
    python -m contracts.build --check    # exit 1 naming every stale artifact; writes nothing (CI)

The compiler is solcjs from ``node_modules`` (npm ``solc``, version pinned in package.json), driven through its
standard-JSON interface (``solcjs --standard-json`` reading the input on stdin). An artifact holds the ABI, the
creation and runtime bytecode, the storage layout (the genesis builder needs it), the compiler version and
settings, and a SHA-256 over all sources. Its JSON is written with sorted keys, so the same sources and compiler
always give byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts import ARTIFACTS_DIR, CONTRACTS_DIR, SOURCES_DIR

ROOT = CONTRACTS_DIR.parent
SOLCJS = ROOT / "node_modules" / ".bin" / "solcjs"

# LACChain's published genesis files enable forks only up to Petersburg (`constantinopleFixBlock`), so the code
# must not use later opcodes (PUSH0, MCOPY, ...). solc warns that EVM versions before London are deprecated; that
# warning is expected and filtered below.
EVM_VERSION = "petersburg"
OPTIMIZER = {"enabled": True, "runs": 200}
EXPECTED_WARNINGS = ("Support for EVM versions older than london is deprecated",)
OUTPUTS = [
    "abi",
    "evm.bytecode.object",
    "evm.deployedBytecode.object",
    "evm.deployedBytecode.immutableReferences",
    "storageLayout",
]


class BuildError(RuntimeError):
    """The compiler could not be run or reported errors; the message carries its diagnostics."""


@dataclass(frozen=True)
class BuildResult:
    artifacts: dict[str, str]
    """Artifact file name -> exact file text."""
    warnings: list[str]


def pinned_solc_version() -> str:
    """The solc version package.json pins (the single place it is written)."""
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    version: str = package["devDependencies"]["solc"]
    return version


def solcjs_path() -> Path:
    if SOLCJS.exists():
        return SOLCJS
    found = shutil.which("solcjs")
    if found is None:
        raise BuildError("solcjs not found: run `npm ci` (package.json pins npm solc)")
    return Path(found)


def solc_version(solcjs: Path) -> str:
    """The full version string solcjs reports, e.g. ``0.8.37+commit.f401782d.Emscripten.clang``."""
    result = subprocess.run([str(solcjs), "--version"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"`solcjs --version` failed: {result.stderr.strip() or result.stdout.strip()}")
    version = result.stdout.strip().splitlines()[-1].strip()
    pinned = pinned_solc_version()
    if not version.startswith(f"{pinned}+"):
        raise BuildError(f"solcjs is {version}, package.json pins {pinned}: run `npm ci`")
    return version


def source_files() -> dict[str, str]:
    """Source unit name (path relative to contracts/, e.g. ``src/NodeRules.sol``) -> content, sorted by name."""
    paths = sorted(SOURCES_DIR.rglob("*.sol"))
    if not paths:
        raise BuildError(f"no Solidity sources under {SOURCES_DIR}")
    return {path.relative_to(CONTRACTS_DIR).as_posix(): path.read_text(encoding="utf-8") for path in paths}


def sources_hash(sources: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(sources):
        for part in (name, sources[name]):
            data = part.encode("utf-8")
            digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def standard_json_input(sources: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {name: {"content": content} for name, content in sources.items()},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": OPTIMIZER,
            "outputSelection": {"*": {"*": OUTPUTS}},
        },
    }


def run_solcjs(solcjs: Path, compiler_input: dict[str, Any]) -> dict[str, Any]:
    # stdout goes to a file, not a pipe: solcjs exits before node has flushed more than 64 KiB into a pipe.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stdout:
        result = subprocess.run(
            [str(solcjs), "--standard-json"],
            input=json.dumps(compiler_input),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=CONTRACTS_DIR,
            check=False,
        )
        stdout.seek(0)
        text = stdout.read()
    # solcjs may print notes (e.g. about SMT solvers) before the JSON document.
    start = text.find("{")
    if result.returncode != 0 or start < 0:
        raise BuildError(f"solcjs --standard-json failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    try:
        output: dict[str, Any] = json.loads(text[start:])
    except json.JSONDecodeError as error:
        raise BuildError(
            f"solcjs --standard-json wrote no complete JSON ({error}); output was {len(text)} chars"
        ) from None
    return output


def compile_sources() -> BuildResult:
    """Compile every source; return the artifact texts without writing them."""
    solcjs = solcjs_path()
    version = solc_version(solcjs)
    sources = source_files()
    output = run_solcjs(solcjs, standard_json_input(sources))

    errors, warnings = [], []
    for diagnostic in output.get("errors", []):
        text = diagnostic.get("formattedMessage") or diagnostic.get("message", "")
        if diagnostic.get("severity") == "error":
            errors.append(text)
        elif not any(expected in text for expected in EXPECTED_WARNINGS):
            warnings.append(text)
    if errors:
        raise BuildError("solc reported errors:\n" + "\n".join(errors))

    digest = sources_hash(sources)
    artifacts: dict[str, str] = {}
    for source_name, contracts in sorted(output.get("contracts", {}).items()):
        for name, compiled in sorted(contracts.items()):
            bytecode = compiled["evm"]["bytecode"]["object"]
            if not bytecode:  # interfaces and abstract contracts
                continue
            file_name = f"{name}.json"
            if file_name in artifacts:
                raise BuildError(f"two contracts named {name}: artifact names must be unique")
            artifact = {
                "contractName": name,
                "sourceName": source_name,
                "abi": compiled["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "immutableReferences": compiled["evm"]["deployedBytecode"].get("immutableReferences", {}),
                "storageLayout": compiled["storageLayout"],
                "compiler": {
                    "name": "solc",
                    "version": version,
                    "settings": {"evmVersion": EVM_VERSION, "optimizer": OPTIMIZER},
                },
                "sourcesSha256": digest,
            }
            artifacts[file_name] = json.dumps(artifact, indent=2, sort_keys=True) + "\n"
    return BuildResult(artifacts, warnings)


def stale_artifacts(result: BuildResult, directory: Path = ARTIFACTS_DIR) -> list[str]:
    """Artifact files in ``directory`` that differ from ``result``: changed, missing or no longer produced."""
    stale = []
    on_disk = {path.name for path in directory.glob("*.json")} if directory.is_dir() else set()
    for file_name, text in sorted(result.artifacts.items()):
        path = directory / file_name
        if file_name not in on_disk:
            stale.append(f"{_shown(path)} is missing")
        elif path.read_text(encoding="utf-8") != text:
            stale.append(f"{_shown(path)} differs from a fresh compile")
    stale.extend(
        f"{_shown(directory / name)} has no source contract" for name in sorted(on_disk - set(result.artifacts))
    )
    return stale


def write_artifacts(result: BuildResult, directory: Path = ARTIFACTS_DIR) -> list[Path]:
    """Write every artifact and delete artifacts of contracts that no longer exist; return the written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.json"):
        if path.name not in result.artifacts:
            path.unlink()
    written = []
    for file_name, text in sorted(result.artifacts.items()):
        path = directory / file_name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _shown(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare committed artifacts with a fresh compile")
    args = parser.parse_args(argv)
    try:
        result = compile_sources()
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.check:
        stale = stale_artifacts(result, ARTIFACTS_DIR)
        for line in stale:
            print(f"stale artifact: {line}", file=sys.stderr)
        if stale:
            print("rebuild with `python -m contracts.build` and commit contracts/artifacts/", file=sys.stderr)
            return 1
        print(f"{len(result.artifacts)} artifacts up to date")
        return 0
    for path in write_artifacts(result, ARTIFACTS_DIR):
        print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
