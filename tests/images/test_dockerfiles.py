"""Every image definition: lint-clean, pinned, not root where it need not be, and on the ports and paths that
``lacchain/layout.py`` fixes for every platform."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from components.service_images import base_image
from lacchain import layout
from lacchain.besu.releases import DEFAULT_BESU_VERSION
from lacchain.kubernetes import NODE_UID
from lacchain.nginx import NGINX_CONFIG_FILE
from lacchain.roles import TransactionManager
from lacchain.tm import paths as tm_paths
from tests.images.dockerfiles import (
    IMAGES_DIR,
    VERSION_TAG,
    all_dockerfiles,
    exec_form,
    exposed,
    final_user,
    instructions,
)

HADOLINT = Path(sys.executable).with_name("hadolint")
DOCKERFILES = all_dockerfiles()
IDS = [path.parent.name for path in DOCKERFILES]


def tcp(*ports: int) -> set[str]:
    return {f"{port}/tcp" for port in ports}


EXPECTED_PORTS: dict[str, set[str]] = {
    "besu": tcp(
        layout.P2P_PORT, layout.RPC_HTTP_PORT, layout.RPC_WS_PORT, layout.GRAPHQL_HTTP_PORT, layout.METRICS_PORT
    )
    | {f"{layout.P2P_PORT}/udp"},
    "tessera": tcp(layout.TESSERA_P2P_PORT, layout.TESSERA_Q2T_PORT, layout.TESSERA_THIRDPARTY_PORT),
    "orion": tcp(layout.ORION_NODE_PORT, layout.ORION_CLIENT_PORT),
    "nginx": tcp(layout.NGINX_HTTPS_PORT),
    "healthcheck": tcp(layout.HEALTHCHECK_PORT),
    "ethstats-client": set(),  # outbound only
}
"""Exactly what each of our images exposes. Images added later must at least use layout ports."""

LAYOUT_PORTS = {value for name, value in vars(layout).items() if name.endswith("_PORT") and isinstance(value, int)}


def test_there_are_images_to_check() -> None:
    assert set(EXPECTED_PORTS) <= set(IDS)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_hadolint_reports_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_ports_are_the_layout_ports(dockerfile: Path) -> None:
    ports = exposed(dockerfile)
    expected = EXPECTED_PORTS.get(dockerfile.parent.name)
    if expected is not None:
        assert ports == expected
    assert {int(port.split("/")[0]) for port in ports} <= LAYOUT_PORTS


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_base_images_are_pinned_to_exact_versions(dockerfile: Path) -> None:
    image = base_image(dockerfile)
    name, _, tag = image.rpartition(":")
    assert name and "@" not in name, f"{image}: pin a tag"
    assert tag != "latest" and VERSION_TAG.match(tag), f"{image}: {tag!r} is not an exact version"


def test_besu_defaults_to_the_default_release_and_reads_the_rendered_config() -> None:
    dockerfile = IMAGES_DIR / "besu/Dockerfile"
    assert ("ARG", f"BESU_VERSION={DEFAULT_BESU_VERSION}") in instructions(dockerfile)
    entrypoint = exec_form(dockerfile, "ENTRYPOINT")
    assert entrypoint is not None
    assert entrypoint[-1] == f"--config-file={layout.BESU_CONFIG_FILE}"
    # The upstream image's host defaults would override config.toml (env ranks above the file in Besu).
    for variable in ("BESU_RPC_HTTP_HOST", "BESU_RPC_WS_HOST", "BESU_GRAPHQL_HTTP_HOST"):
        assert entrypoint[entrypoint.index(variable) - 1] == "-u"


def test_transaction_managers_start_from_the_key_agents_runtime_configuration() -> None:
    """Not the rendered template: only the agent's copy lists every key version, so only it survives a rotation.
    The pods and VM units pass the same arguments (``lacchain.tm.paths``), so the image default agrees with them."""
    tessera = exec_form(IMAGES_DIR / "tessera/Dockerfile", "CMD")
    orion = exec_form(IMAGES_DIR / "orion/Dockerfile", "CMD")
    assert tessera == tm_paths.transaction_manager_args(TransactionManager.TESSERA)
    assert orion == tm_paths.transaction_manager_args(TransactionManager.ORION)
    assert tessera == ["-configfile", f"{layout.SECRETS_DIR}/tessera-config.json"]
    assert orion == [f"{layout.SECRETS_DIR}/orion.conf"]


@pytest.mark.parametrize("image", ["keyagent", "tessera", "orion", "besu"])
def test_images_sharing_the_keys_directory_run_as_the_nodes_uid(image: str) -> None:
    """The agent writes 0600 files; Besu (privacy public key) and the transaction manager must own them."""
    assert final_user(IMAGES_DIR / image / "Dockerfile") == f"{NODE_UID}:{NODE_UID}"


def test_nginx_reads_the_rendered_config() -> None:
    cmd = exec_form(IMAGES_DIR / "nginx/Dockerfile", "CMD")
    assert cmd == ["nginx", "-c", NGINX_CONFIG_FILE, "-g", "daemon off;"]


ROOT_BY_DESIGN = {"nginx"}
"""nginx's master must bind 443 and read the TLS key; its workers run as the unprivileged ``nginx`` user."""


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=IDS)
def test_services_do_not_run_as_root(dockerfile: Path) -> None:
    if dockerfile.parent.name in ROOT_BY_DESIGN:
        assert final_user(dockerfile) is None  # documented in images/README.md
        return
    user = final_user(dockerfile)
    assert user is not None, "set a non-root USER"
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: use a numeric, non-zero uid (Kubernetes runAsNonRoot)"


def test_readme_lists_every_image() -> None:
    readme = (IMAGES_DIR / "README.md").read_text()
    for name in IDS:
        assert f"`{name}`" in readme, f"images/README.md has no row for {name}"
