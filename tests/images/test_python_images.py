"""Our Python service images install what their tests ran with, and everything the service imports.

These images cannot be built here (no Docker engine), so what can drift is checked against its source of truth:
the pinned requirements against the project's pins and the versions installed in the test environment; the
service's actual imports against the requirements (third-party) and the Dockerfile's COPY lines (our code).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest

from tests.images.dockerfiles import IMAGES_DIR, copy_sources, exec_form
from tests.standins import ROOT

SERVICES = {
    "healthcheck": "services.healthcheck",
    "ethstats-client": "services.ethstats_client",
    "keyagent": "services.keyagent",
    "ddns-daemon": "services.ddns_daemon",
}
"""Image folder -> the package its entrypoint runs."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(image: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (IMAGES_DIR / image / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{image}/requirements.txt: {line!r} is not pinned with =="
        pins[_canonical(name)] = version
    return pins


def _project_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins: dict[str, str] = {}
    for spec in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        name, sep, version = spec.partition("==")
        if sep:
            pins[_canonical(name.split("[")[0])] = version
    return pins


@pytest.mark.parametrize("image", SERVICES)
def test_requirements_are_the_tested_versions(image: str) -> None:
    for name, version in _requirements(image).items():
        assert metadata.version(name) == version, f"{image}: {name}=={version}, tests ran {metadata.version(name)}"


@pytest.mark.parametrize("image", SERVICES)
def test_requirements_agree_with_the_project_pins(image: str) -> None:
    project = _project_pins()
    for name, version in _requirements(image).items():
        if name in project:
            assert project[name] == version, f"{image}: {name}=={version}, pyproject pins {project[name]}"


_PROBE = """
import importlib, importlib.abc, importlib.machinery, json, os, sys, sysconfig
from importlib import metadata
from pathlib import Path

root = Path(sys.argv[1]).resolve()
installed = set(json.loads(sys.argv[2]))  # canonical names of the image's requirements
first_party = {"lacchain", "services"}
canonical = lambda name: name.replace("_", "-").replace(".", "-").lower()
providers = metadata.packages_distributions()
stdlib = sysconfig.get_path("stdlib")
stdlib_dirs = [stdlib, sysconfig.get_path("platstdlib"), os.path.join(stdlib, "lib-dynload")]
in_stdlib = lambda top: importlib.machinery.PathFinder.find_spec(top, stdlib_dirs) is not None


class OnlyTheImage(importlib.abc.MetaPathFinder):
    # Top-level modules the image would not have fail to import, as they would in the image: optional
    # imports (httpx's CLI tries rich) are then skipped exactly as there, and a real need fails the probe.
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top in sys.builtin_module_names or top in first_party or in_stdlib(top):
            return None
        if any(canonical(dist) in installed for dist in providers.get(top, [])):
            return None
        raise ModuleNotFoundError(f"No module named {name!r} (not installed in the image)", name=name)


sys.meta_path.insert(0, OnlyTheImage())
for module in sys.argv[3:]:
    importlib.import_module(module)

loaded = {}
for name, module in list(sys.modules.items()):
    file = getattr(module, "__file__", None)
    # .pth hooks of the test venv (setuptools, the editable install), not imports of the service
    if file and name != "_distutils_hack" and not name.startswith("__editable__"):
        loaded[str(Path(file).resolve())] = name
tops = {name.split(".")[0] for name in loaded.values()}
candidates = {dist for top in tops for dist in providers.get(top, [])}
owners = {}
for dist in metadata.distributions():
    if dist.metadata["Name"] not in candidates:
        continue
    for entry in dist.files or []:
        path = str(Path(dist.locate_file(entry)).resolve())
        if path in loaded:
            owners[path] = dist.metadata["Name"]
third, first = set(), set()
for file in loaded:
    path = Path(file)
    if path.is_relative_to(root) and ".venv" not in path.parts:
        first.add(path.relative_to(root).as_posix())
    elif file in owners:
        third.add(owners[file])
print(json.dumps({"third": sorted(third), "first": sorted(first)}))
"""
"""Run in a fresh interpreter that can only import what the image installs (plus the standard library and our
code): it starts the service's entrypoint module and reports which distributions own the loaded files (exact even
for namespace packages such as ``opentelemetry``) and which repository files were loaded."""


@functools.cache
def _imports(image: str, package: str) -> dict[str, list[str]]:
    """What starting ``package``'s entrypoint loads, in an interpreter limited to ``image``'s requirements."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(ROOT), json.dumps(sorted(_requirements(image))), f"{package}.__main__"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"{package} cannot start with only {image}/requirements.txt:\n{result.stderr}"
    loaded: dict[str, list[str]] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize(("image", "package"), SERVICES.items())
def test_every_imported_distribution_is_installed_in_the_image(image: str, package: str) -> None:
    required = set(_requirements(image))
    loaded = {_canonical(name) for name in _imports(image, package)["third"]}
    assert loaded, "the probe saw no third-party imports at all"
    assert loaded <= required, f"{image} imports {sorted(loaded - required)} but does not install them"


@pytest.mark.parametrize(("image", "package"), SERVICES.items())
def test_every_imported_repository_file_is_copied_into_the_image(image: str, package: str) -> None:
    dockerfile = IMAGES_DIR / image / "Dockerfile"
    sources = [source.rstrip("/") for source in copy_sources(dockerfile)]
    assert f"images/{image}/requirements.txt" in sources
    for file in _imports(image, package)["first"]:
        assert any(file == s or file.startswith(s + "/") for s in sources), f"{image}: {file} is not copied"


@pytest.mark.parametrize(("image", "package"), SERVICES.items())
def test_entrypoint_runs_the_service_package(image: str, package: str) -> None:
    assert exec_form(IMAGES_DIR / image / "Dockerfile", "ENTRYPOINT") == ["python", "-m", package]


def _excluded(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore ``patterns`` exclude ``path`` (last matching rule wins; a rule on a parent counts)."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        rule = pattern.removeprefix("!").strip("/")
        if any(fnmatch.fnmatch(candidate, rule) for candidate in candidates):
            excluded = not negated
    return excluded


def test_root_build_context_is_small_and_holds_what_the_images_copy() -> None:
    ignore = ROOT / ".dockerignore"
    assert ignore.exists(), (
        "the Python images build from the repository root: add the root .dockerignore proposed in "
        "images/README.md so .venv, node_modules and .git are not sent to the Docker engine"
    )
    patterns = [line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")]
    for heavy in (".git", ".venv", "node_modules", "lacchain/__pycache__", "services/healthcheck/__pycache__"):
        assert _excluded(heavy, patterns), f".dockerignore does not exclude {heavy}"
    for image in SERVICES:
        for source in copy_sources(IMAGES_DIR / image / "Dockerfile"):
            assert not _excluded(source, patterns), f".dockerignore excludes {source}, which {image} copies"
