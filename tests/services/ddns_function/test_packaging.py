"""What the DDNS function is deployed with: its pinned requirements (the Cloud Functions build installs them, CI
builds the Lambda layer from them) are the versions these tests ran against, and cover every third-party import."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import packages_distributions, version

from tests.standins import ROOT

FUNCTION = ROOT / "services" / "ddns_function"


def pinned() -> dict[str, str]:
    lines = (FUNCTION / "requirements.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_the_requirements_are_the_versions_installed_here() -> None:
    pins = pinned()
    assert {"boto3", "httpx", "dnspython", "cryptography", "coincurve", "eth-hash", "rlp", "pycryptodome"} <= set(pins)
    assert {name: version(name) for name in pins} == pins


def test_every_third_party_import_of_the_function_and_lacchain_is_pinned() -> None:
    """Walks the imports of the function's modules and of the lacchain modules it uses: each top-level
    package that is not the standard library or the project itself must come from a pinned distribution."""
    distributions = packages_distributions()
    pins = {name.lower().replace("_", "-") for name in pinned()}
    sources = [*FUNCTION.glob("*.py"), *(ROOT / "lacchain").rglob("*.py")]
    used = {"lacchain.ddns", "lacchain.enr", "lacchain.keys", "lacchain.enode", "lacchain.errors"}
    missing = set()
    for path in sources:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module.startswith("lacchain") and not any(module.startswith(u) for u in used):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("lacchain", "services", "google"):
                    continue  # google.auth is optional (gcp_auth falls back to the metadata server)
                if not {d.lower().replace("_", "-") for d in distributions.get(top, [])} & pins:
                    missing.add(f"{top} ({module})")
    assert not missing
