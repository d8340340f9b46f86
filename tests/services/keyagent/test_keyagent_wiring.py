"""The key agent as the deployments really start it: the pod's init container and the VM's systemd unit are rendered,
then read back with the agent's own parser (``services.keyagent.cli.parse_config``), so the manifests and the
agent's options can never drift apart again (a pod once passed ``--node``/``--out``, which the agent refuses).

Also followed end to end: the rendered template the agent completes, the runtime file it writes, and the file the
transaction manager is started with are one and the same, so a rotation reaches Tessera and Orion.
"""

from __future__ import annotations

import itertools
import json
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from lacchain import kubernetes as pod
from lacchain import layout, vm
from lacchain.network_plan import NGINX_CONF, ORION_CONF, TESSERA_JSON, nginx_conf
from lacchain.roles import Platform, Role, TransactionManager
from lacchain.sizing import size_class
from lacchain.stack_config import Size
from lacchain.tm import paths as tm_paths
from lacchain.tm.config import TmSettings, render_orion_config, render_tessera_config
from services.keyagent.agent import run
from services.keyagent.cli import parse_config
from services.keyagent.config import AgentConfig
from services.keyagent.document import KeyDocument
from services.keyagent.errors import ConfigError
from services.keyagent.files import ORION_CONFIG_FILE, TESSERA_CONFIG_FILE, TmTemplates
from services.keyagent.rotate import rotate
from tests.services.keyagent.test_keyagent_output import MemoryStore

IMAGES = pod.Images(besu="hyperledger/besu:24.12.2")
"""The official Besu image; the other services take their defaults."""
OUT = layout.SECRETS_DIR
AGENT_ENVS: dict[str, dict[str, str]] = {
    # Exactly what OrionKeyVault outputs as agent_env per backend (tests/components/test_orion_key_vault.py checks
    # the component against the same parser).
    "kubernetes": {
        "LACCHAIN_KEYAGENT_BACKEND": "kubernetes",
        "LACCHAIN_KEYAGENT_SECRET": "acme-writer-1-tm-keys",
        "LACCHAIN_KEYAGENT_NAMESPACE": "lacchain",
        "LACCHAIN_KEYAGENT_MOUNT_DIR": tm_paths.KUBERNETES_SECRET_MOUNT,
        "LACCHAIN_KEYAGENT_OUTPUT_DIR": OUT,
    },
    "aws": {
        "LACCHAIN_KEYAGENT_BACKEND": "aws",
        "LACCHAIN_KEYAGENT_SECRET": "arn:aws:secretsmanager:sa-east-1:123456789012:secret:lacchain/acme/w/tm-keys-Ab12Cd",
        "LACCHAIN_KEYAGENT_REGION": "sa-east-1",
        "LACCHAIN_KEYAGENT_KMS_KEY_ID": "arn:aws:kms:sa-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "LACCHAIN_KEYAGENT_OUTPUT_DIR": OUT,
    },
    "gcp": {
        "LACCHAIN_KEYAGENT_BACKEND": "gcp",
        "LACCHAIN_KEYAGENT_SECRET": "projects/acme/secrets/lacchain-acme-writer-1-tm-keys",
        "LACCHAIN_KEYAGENT_OUTPUT_DIR": OUT,
    },
    "vault": {
        "LACCHAIN_KEYAGENT_BACKEND": "vault",
        "LACCHAIN_KEYAGENT_SECRET": "lacchain/acme/writer-1/tm-keys",
        "LACCHAIN_KEYAGENT_VAULT_ADDR": "https://vault.example.org:8200",
        "LACCHAIN_KEYAGENT_VAULT_ROLE": "lacchain-acme-writer-1",
        "LACCHAIN_KEYAGENT_VAULT_AUTH_MOUNT": "kubernetes",
        "LACCHAIN_KEYAGENT_VAULT_KV_MOUNT": "secret",
        "LACCHAIN_KEYAGENT_OUTPUT_DIR": OUT,
    },
}
TMS = [TransactionManager.TESSERA, TransactionManager.ORION]
TEMPLATE_FILES = {TransactionManager.TESSERA: TESSERA_JSON, TransactionManager.ORION: ORION_CONF}
RUNTIME_NAMES = {TransactionManager.TESSERA: TESSERA_CONFIG_FILE, TransactionManager.ORION: ORION_CONFIG_FILE}


def writer(tm: TransactionManager, **changes: Any) -> pod.NodeObjects:
    fields: dict[str, Any] = {
        "member": "acme",
        "name": "writer-1",
        "namespace": "lacchain",
        "role": Role.WRITER,
        "transaction_manager": tm,
        "size": size_class(Size.MEDIUM),
        "disk_gb": 100,
        "images": IMAGES,
        "file_keys": ("config.toml", NGINX_CONF, TEMPLATE_FILES[tm]),
        **changes,
    }
    return pod.NodeObjects(**fields)


def pod_spec(n: pod.NodeObjects) -> dict[str, Any]:
    spec: dict[str, Any] = pod.statefulset(n)["spec"]["template"]["spec"]
    return spec


def mounts_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container.get("volumeMounts", [])}


def pod_file(spec: Mapping[str, Any], container: Mapping[str, Any], path: str, configmaps: Mapping[str, Any]) -> str:
    """The content of ``path`` as ``container`` sees it through the pod's projected config volume (fails if the
    container does not see it there)."""
    config = next(v for v in spec["volumes"] if v["name"] == "config")
    mount = next(at for at, m in mounts_of(container).items() if m["name"] == "config")
    relative = str(PurePosixPath(path).relative_to(mount))
    for source in config["projected"]["sources"]:
        for item in source["configMap"]["items"]:
            if item["path"] == relative:
                return str(configmaps[source["configMap"]["name"]][item["key"]])
    raise AssertionError(f"{path} is not in the pod's config volume")


def with_scratch_paths(args: Sequence[str], files: Mapping[str, str], scratch: Path) -> list[str]:
    """``args`` with every file they name (the settings file, the template) copied to ``scratch``: the agent reads
    the very content the deployment gives it, from a place this test can write."""
    moved = []
    for arg in args:
        if arg in files:
            copy = scratch / PurePosixPath(arg).name
            copy.write_text(files[arg])
            moved.append(str(copy))
        else:
            moved.append(arg)
    return moved


# --- the pod -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tm", TMS)
@pytest.mark.parametrize("backend", sorted(AGENT_ENVS))
def test_the_init_container_is_exactly_what_the_agent_parses(
    backend: str, tm: TransactionManager, tmp_path: Path
) -> None:
    n = writer(tm, tm_keys_secret="acme-writer-1-tm-keys" if backend == "kubernetes" else None)
    spec = pod_spec(n)
    (agent,) = [c for c in spec["initContainers"] if c["name"] == "keyagent"]
    template = tm_paths.TESSERA_TEMPLATE_FILE if tm is TransactionManager.TESSERA else tm_paths.ORION_TEMPLATE_FILE
    config_map = pod.configmap(n, {"config.toml": "x", TEMPLATE_FILES[tm]: "{}"}, AGENT_ENVS[backend])
    maps = {config_map["metadata"]["name"]: config_map["data"]}
    assert "env" not in agent and "envFrom" not in agent  # only its settings file: nothing else of the ConfigMap
    seen = {arg: pod_file(spec, agent, arg, maps) for arg in agent["args"] if arg.startswith(layout.CONFIG_DIR)}
    assert set(seen) == {tm_paths.KEYAGENT_SETTINGS_FILE, template}

    # raises SystemExit(2) / InvalidInput / ConfigError on anything the agent refuses; nothing from the environment
    config = parse_config(with_scratch_paths(agent["args"], seen, tmp_path), {})

    assert config.backend == backend and config.secret == AGENT_ENVS[backend]["LACCHAIN_KEYAGENT_SECRET"]
    # keys go to the pod's memory volume, which the transaction manager and Besu mount at the same place
    volumes = {v["name"]: v for v in spec["volumes"]}
    written_to = mounts_of(agent)[str(config.output_dir)]
    assert volumes[written_to["name"]]["emptyDir"]["medium"] == "Memory" and not written_to.get("readOnly")
    containers = {c["name"]: c for c in spec["containers"]}
    for reader in ("tm", "besu"):
        assert mounts_of(containers[reader])[str(config.output_dir)]["name"] == written_to["name"]
    # ...and the transaction manager starts from the file the agent writes from the template
    assert containers["tm"]["args"][-1] == str(config.output_dir / RUNTIME_NAMES[tm])
    # one uid for the agent and every reader of its 0600 files
    uid = spec["securityContext"]["runAsUser"]
    assert agent["securityContext"]["runAsUser"] == uid == pod.NODE_UID
    assert all(c.get("securityContext", {}).get("runAsUser", uid) == uid for c in spec["containers"])
    assert spec["serviceAccountName"] == pod.service_account_name(n)
    if backend == "kubernetes":
        # on later boots the agent reads the Secret it created from this mount, without an API call
        assert config.mount_dir is not None
        mount = mounts_of(agent)[str(config.mount_dir)]
        assert mount["readOnly"] and volumes[mount["name"]]["secret"] == {
            "secretName": config.secret,
            "optional": True,
            "defaultMode": 0o440,
        }
    else:
        assert "tm-keys-secret" not in volumes


def test_the_old_pod_flags_would_have_been_refused() -> None:
    """The check above can fail: the flags the pod used to pass are not the agent's."""
    with pytest.raises(SystemExit) as refused:
        parse_config(["--node", "writer-1", "--out", OUT], AGENT_ENVS["aws"])
    assert refused.value.code == 2


def test_the_settings_file_holds_only_the_agents_one_line_settings(tmp_path: Path) -> None:
    text = pod.keyagent_settings(AGENT_ENVS["aws"])
    settings = tmp_path / "keyagent.env"
    settings.write_text(text)
    assert parse_config(["--env-file", str(settings)], {}).secret == AGENT_ENVS["aws"]["LACCHAIN_KEYAGENT_SECRET"]
    # the process environment and flags still win over the file (an operator's override)
    override = {"LACCHAIN_KEYAGENT_REGION": "us-east-1"}
    assert parse_config(["--env-file", str(settings)], override).region == "us-east-1"
    assert parse_config(["--env-file", str(settings), "--region", "eu-west-1"], override).region == "eu-west-1"
    assert parse_config([], {"LACCHAIN_KEYAGENT_ENV_FILE": str(settings)}).backend == "aws"
    two_lines = {**AGENT_ENVS["aws"], "LACCHAIN_KEYAGENT_SECRET": "x\nLACCHAIN_KEYAGENT_BACKEND=vault"}
    for bad in ({**AGENT_ENVS["aws"], "PATH": "/tmp"}, two_lines, {}):
        with pytest.raises(ValueError):
            pod.keyagent_settings(bad)
    # the agent refuses a file that sets anything but its own settings
    settings.write_text(text + "AWS_SECRET_ACCESS_KEY=x\n")
    with pytest.raises(ConfigError, match="line"):
        parse_config(["--env-file", str(settings)], {})
    with pytest.raises(ConfigError, match="cannot read"):
        parse_config(["--env-file", str(tmp_path / "missing.env")], {})


# --- the VM ------------------------------------------------------------------------------------------------------


def vm_writer(platform: Platform, tm: TransactionManager) -> vm.VmNode:
    aws = platform is Platform.AWS
    return vm.VmNode(
        pod=writer(tm, namespace="vm"),
        platform=platform,
        host="198.51.100.7",
        data_device=vm.aws_data_device("vol-0123456789abcdef0") if aws else vm.gce_data_device(),
        node_key_secret="arn:aws:secretsmanager:sa-east-1:1:secret:k" if aws else "projects/acme/secrets/k",
        region="sa-east-1" if aws else None,
        keyagent_env=AGENT_ENVS[platform.value],
    )


def plan_files(tm: TransactionManager, platform: Platform) -> dict[str, str]:
    settings = TmSettings(advertised_host="198.51.100.7")
    template = render_tessera_config(settings) if tm is TransactionManager.TESSERA else render_orion_config(settings)
    return {
        "config.toml": "bootnodes = []\n",
        "genesis.json": "{}\n",
        "static-nodes.json": "[]\n",
        NGINX_CONF: nginx_conf((), platform),
        TEMPLATE_FILES[tm]: template,
    }


def unit_argv(unit: str, key: str = "ExecStart") -> list[str]:
    (line,) = [line for line in unit.splitlines() if line.startswith(f"{key}=")]
    return shlex.split(line.removeprefix(f"{key}=").replace("$$", "$").replace("%%", "%"))


def docker_view(argv: list[str], image: str) -> tuple[list[str], dict[str, str]]:
    """(container args, environment) of a ``docker run`` argv."""
    at = argv.index(image)
    options, args = argv[:at], argv[at + 1 :]
    assert "--env-file" not in options  # the agent reads its settings file itself, as in the pod
    env = dict(value.partition("=")[::2] for flag, value in itertools.pairwise(options) if flag == "--env")
    return args, env


def binds_of(argv: list[str]) -> dict[str, tuple[str, bool]]:
    """target -> (source, read-only) of every ``--mount type=bind``."""
    binds: dict[str, tuple[str, bool]] = {}
    for flag, value in itertools.pairwise(argv):
        if flag == "--mount":
            fields = dict(part.partition("=")[::2] for part in value.split(","))
            binds[fields["target"]] = (fields["source"], "readonly" in value.split(","))
    return binds


@pytest.mark.parametrize("tm", TMS)
@pytest.mark.parametrize("platform", [Platform.AWS, Platform.GCP])
def test_the_vm_unit_is_exactly_what_the_agent_parses(
    platform: Platform, tm: TransactionManager, tmp_path: Path
) -> None:
    node = vm_writer(platform, tm)
    plan = vm.boot_plan(node, plan_files(tm, platform))
    files = {f.path: f.content for f in plan.files}
    unit = files[f"{vm.SYSTEMD_DIR}/lacchain-keyagent.service"]
    argv = unit_argv(unit)
    args, env = docker_view(argv, IMAGES.keyagent)
    (agent,) = [c for c in pod_spec(node.pod)["initContainers"] if c["name"] == "keyagent"]
    assert args == agent["args"]  # the same arguments as in the pod

    config = parse_config(with_scratch_paths(args, files, tmp_path), env)

    assert config.backend == platform.value and config.secret == AGENT_ENVS[platform.value]["LACCHAIN_KEYAGENT_SECRET"]
    binds = binds_of(argv)
    assert binds[str(config.output_dir)] == (layout.SECRETS_DIR, False)  # the keys tmpfs, writable
    assert f"Where={layout.SECRETS_DIR}" in files[f"{vm.SYSTEMD_DIR}/{vm.KEYS_MOUNT_UNIT}"]
    assert binds[layout.CONFIG_DIR] == (layout.CONFIG_DIR, True)  # settings file and template, read-only
    template = f"{layout.CONFIG_DIR}/{TEMPLATE_FILES[tm]}"
    assert template in args and files[template] == plan_files(tm, platform)[TEMPLATE_FILES[tm]]
    assert files[tm_paths.KEYAGENT_SETTINGS_FILE] == pod.keyagent_settings(AGENT_ENVS[platform.value])
    tm_argv = unit_argv(files[f"{vm.SYSTEMD_DIR}/lacchain-tm.service"])
    tm_args, _ = docker_view(tm_argv, IMAGES.tessera if tm is TransactionManager.TESSERA else IMAGES.orion)
    assert tm_args[-1] == str(config.output_dir / RUNTIME_NAMES[tm])
    assert binds_of(tm_argv)[str(config.output_dir)] == (layout.SECRETS_DIR, True)
    assert "--user" in argv and argv[argv.index("--user") + 1] == f"{vm.NODE_UID}:{vm.NODE_UID}"
    # IAM changes take a while: access denied (4) and outages (7) are retried, configuration errors are not
    assert "Restart=on-failure" in unit and "RestartPreventExitStatus=2 3 5 6" in unit
    tm_unit = files[f"{vm.SYSTEMD_DIR}/lacchain-tm.service"]
    assert "lacchain-keyagent.service" in next(line for line in tm_unit.splitlines() if line.startswith("Requires="))


# --- rotation reaches the transaction manager ----------------------------------------------------------------------


@pytest.mark.parametrize("tm", TMS)
def test_a_rotation_reaches_the_file_the_transaction_manager_starts_from(
    tm: TransactionManager, memory_dir: Path
) -> None:
    template = plan_files(tm, Platform.KUBERNETES)[TEMPLATE_FILES[tm]]
    store = MemoryStore(KeyDocument.new().serialize())
    templates = TmTemplates(**{tm.value: template})
    run(store, memory_dir, templates=templates)
    rotate(store)
    run(store, memory_dir, templates=templates)  # the pod rolls / the unit restarts after a rotation

    started_with = PurePosixPath(tm_paths.transaction_manager_args(tm)[-1])
    assert started_with.parent == PurePosixPath(str(AgentConfig("aws", "s").output_dir))
    runtime = (memory_dir / started_with.name).read_text()
    if tm is TransactionManager.TESSERA:
        pairs = json.loads(runtime)["keys"]["keyData"]
        assert [Path(p["publicKeyPath"]).name for p in pairs] == ["nodeKey.pub", "nodeKey.prev-1.pub"]
        assert all((memory_dir / Path(p["privateKeyPath"]).name).exists() for p in pairs)
    else:
        values = tomllib.loads(runtime)
        assert [Path(p).name for p in values["publickeys"]] == ["nodeKey.pub", "nodeKey.prev-1.pub"]
        assert values["nodeurl"] == tomllib.loads(template)["nodeurl"]  # the rest of the template is kept
