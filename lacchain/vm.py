"""A LACChain node on a virtual machine (EC2 or Compute Engine): what the VM runs and which ports it opens.

Pure rendering, like ``lacchain.kubernetes``: the AWS and GCP backends hand in the node's facts and rendered files
and get back a ``BootPlan`` (files with modes, and the command that starts everything), which
``lacchain.cloud_init`` turns into cloud-init user data (EC2) or a startup script (Compute Engine).

The VM is the seed document's (section 4.1) two spaces on one machine:

- the *bootstrap space* is the OS disk: Debian 12, Docker, our systemd units and scripts. It is disposable: any
  config change replaces the instance (the backends make it so), like a changed ConfigMap rolls a pod;
- the *private space* is a separate, encrypted data volume mounted at ``layout.DATA_DIR``. It survives instance
  replacement and loss; the disk is formatted only when it has no file system (or partition table) at all, and
  no node service starts unless it is mounted, so Besu can never fall back to writing chain data on the OS disk.

The containers are *the same ones the Kubernetes pod runs*: they are translated from ``lacchain.kubernetes``'s
StatefulSet (image, args, env, mounts, user, read-only root, dropped capabilities, limits), so a container added or
changed there is added or changed here; a pod volume this module does not know how to place on a VM is an error,
not a silent omission. Each container is a systemd unit running ``docker run --network host`` (Besu binds RPC on
127.0.0.1 on VMs, so nginx must share the host's network), grouped under ``lacchain.target``. Two pod features
have no VM twin: probes (systemd restarts a container that exits, but nothing restarts one that hangs; the
healthcheck container still reports it) and the optional ``ethstats`` Secret (the client runs without it).

Secrets never appear in the boot files. The Besu node key is fetched at boot, with the instance's own identity,
from the node's own secret (AWS Secrets Manager via the Debian ``awscli`` package; GCP Secret Manager via
``lacchain.gce_secret``, standard-library Python) into ``layout.SECRETS_DIR``, a dedicated tmpfs. The transaction
manager's keys are fetched (or created on first boot) by the project's key agent container, started with the same
arguments as in the pod: its non-secret settings file (``keyagent.env``, read with ``--env-file``: the node's
OrionKeyVault ``agent_env``, which names its TM key secret and the vault's KMS key) and the rendered transaction
manager configuration, from which it writes the runtime copy the transaction manager starts from
(``lacchain.tm.paths``).

nginx reads the node's rendered ``nginx.conf`` (``lacchain.network_plan``: port 443, certificate in
``lacchain.nginx.TLS_DIR``) and its certificate from ``RPC_TLS_DIR`` on the keys tmpfs, bound at that directory:
one an operator placed there, or a self-signed one ``lacchain-rpc-tls`` makes at boot.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from lacchain import kubernetes as pod
from lacchain import layout
from lacchain.enode import Enode, EnodeError
from lacchain.errors import LacchainError
from lacchain.network_plan import CONFIG_TOML, NGINX_CONF, STATIC_NODES_JSON
from lacchain.roles import Platform, Role
from lacchain.tm.paths import KEYAGENT_SETTINGS

NODE_UID = pod.BESU_UID
"""Every container runs as this uid, as in the pod (``runAsUser``); host directories they write are owned by it."""
DOCKER = "/usr/bin/docker"
TARGET = "lacchain.target"
DATA_MOUNT_UNIT = "var-lib-lacchain.mount"
KEYS_MOUNT_UNIT = "run-lacchain-keys.mount"
PREPARE_DATA_UNIT = "lacchain-data-prepare.service"
NODE_KEY_UNIT = "lacchain-node-key.service"
RPC_TLS_UNIT = "lacchain-rpc-tls.service"
METADATA_GUARD_UNIT = "lacchain-metadata-guard.service"
METADATA_ADDRESS = "169.254.169.254"
"""The instance metadata service of both EC2 and Compute Engine: where the instance identity's credentials are."""
SYSTEMD_DIR = "/etc/systemd/system"
SBIN = "/usr/local/sbin"
LIB_DIR = "/usr/local/lib/lacchain"
BOOTSTRAP = f"{SBIN}/lacchain-bootstrap"
PREPARE_DATA = f"{SBIN}/lacchain-prepare-data"
FETCH_NODE_KEY = f"{SBIN}/lacchain-fetch-node-key"
RPC_TLS = f"{SBIN}/lacchain-rpc-tls"
METADATA_GUARD = f"{SBIN}/lacchain-metadata-guard"
GCE_SECRET = f"{LIB_DIR}/gce_secret.py"
RPC_TLS_DIR = f"{layout.SECRETS_DIR}/nginx"
"""Where nginx's certificate and key live on the VM (memory only); bound at ``lacchain.nginx.TLS_DIR`` in the
container (the pod's ``rpc-tls`` volume)."""
KEYAGENT_ENV = KEYAGENT_SETTINGS
"""The key agent's settings file in ``layout.CONFIG_DIR`` (``lacchain.tm.paths``), as in the pod."""
KEYAGENT_RETRY_SECONDS = 10
KEYAGENT_FINAL_EXIT_CODES = (2, 3, 5, 6)
"""Key agent exit codes a restart cannot fix (configuration, unsafe directory, no key with creation disabled,
corrupted value); access denied (4: IAM changes take a while to apply) and an unavailable store (7) are retried
(``services/keyagent/README.md``)."""
DATA_FS_LABEL = "lacchain-data"
GCE_DATA_DEVICE_NAME = "lacchain-data"
AWS_DATA_ATTACHMENT = "/dev/sdf"
"""The EBS attachment name. On Nitro instances the kernel names the disk /dev/nvmeXn1 in discovery order instead,
so the VM never uses this name: it finds the volume by its id (``aws_data_device``)."""
KEYS_TMPFS_SIZE = "4m"
STOP_GRACE_SECONDS = 120
"""Besu flushes RocksDB on SIGTERM; the pod's ``terminationGracePeriodSeconds`` is the same."""

PACKAGES: dict[Platform, tuple[str, ...]] = {
    # awscli: the node-key fetch (Debian's package, signed by Debian; no extra image or download).
    Platform.AWS: ("docker.io", "awscli", "curl", "openssl", "ca-certificates"),
    # python3 runs lacchain.gce_secret (Debian's Compute Engine images have it; listed to be certain).
    Platform.GCP: ("docker.io", "python3", "curl", "openssl", "ca-certificates"),
}


class VmRenderError(LacchainError, ValueError):
    """The node cannot be rendered for a VM (a pod feature with no VM translation, a bad file path)."""


# --- facts -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VmNode:
    """Everything one node's VM boot files are rendered from."""

    pod: pod.NodeObjects
    """The node's facts as the Kubernetes rendering sees them (role, TM, size, images, ethstats...)."""
    platform: Platform
    host: str
    """The node's public p2p host (static IP or DNS name): the RPC certificate names it."""
    data_device: str
    """Stable path of the data volume (``aws_data_device`` / ``gce_data_device``)."""
    node_key_secret: str
    """aws: the Secrets Manager secret ARN; gcp: ``projects/<p>/secrets/<id>``."""
    region: str | None = None
    """aws: the region of the secret (and of the SSM agent download)."""
    keyagent_env: Mapping[str, str] | None = None
    """Writers with a transaction manager: the key agent's settings, the node's OrionKeyVault ``agent_env``
    (``LACCHAIN_KEYAGENT_*``: backend, the TM key secret, region, KMS key). References only, never a key."""

    def __post_init__(self) -> None:
        if self.platform not in PACKAGES:
            raise VmRenderError(f"{self.platform.value} is not a VM platform")
        if self.platform is Platform.AWS and not self.region:
            raise VmRenderError("an AWS node needs its region (secret endpoint, SSM agent)")
        if self.pod.has_tm and not self.keyagent_env:
            raise VmRenderError(f"{self.pod.name} runs a transaction manager but has no key agent settings")
        if self.pod.rpc_tls is not pod.RpcTlsSource.SECRET or self.pod.tm_keys_secret is not None:
            raise VmRenderError(
                f"{self.pod.name}: a VM gets its RPC certificate from the host (lacchain-rpc-tls) and its TM keys "
                "from a cloud secret; render the pod with the defaults"
            )


def aws_data_device(volume_id: str) -> str:
    """The EBS volume's stable name: Nitro exposes the volume id (without '-') as the NVMe serial, and udev links
    it under /dev/disk/by-id. All instance types of ``lacchain.sizing`` are Nitro."""
    if not re.fullmatch(r"[A-Za-z0-9-]+", volume_id):
        raise VmRenderError(f"{volume_id!r} is not an EBS volume id (vol-...)")
    return f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"


def gce_data_device(device_name: str = GCE_DATA_DEVICE_NAME) -> str:
    """A Compute Engine disk's stable name: the guest environment's udev rules link the attachment's
    ``device_name`` as /dev/disk/by-id/google-<name>."""
    return f"/dev/disk/by-id/google-{device_name}"


# --- containers, translated from the pod ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    read_only: bool


@dataclass(frozen=True)
class Container:
    """One container as ``docker run`` runs it; ``init`` containers run once, to completion, before the others."""

    name: str
    image: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    binds: tuple[Bind, ...] = ()
    tmpfs: tuple[str, ...] = ()
    user: str = f"{NODE_UID}:{NODE_UID}"
    read_only: bool = True
    drop_all_capabilities: bool = True
    no_new_privileges: bool = True
    memory: str | None = None
    cpus: str | None = None
    init: bool = False
    data_dirs: tuple[str, ...] = ()
    """Host directories on the data volume this container writes (created, owned by ``NODE_UID``, before start)."""

    @property
    def unit(self) -> str:
        return f"lacchain-{self.name}.service"

    @property
    def container_name(self) -> str:
        return f"lacchain-{self.name}"


def _memory(quantity: str) -> str:
    """Kubernetes memory quantity to docker's: 2Gi -> 2g, 512Mi -> 512m."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)?", quantity)
    if not match:
        raise VmRenderError(f"memory quantity {quantity!r} has no docker equivalent")
    number, unit = match.groups()
    return number + {"Ki": "k", "Mi": "m", "Gi": "g", "Ti": "t", None: "b"}[unit]


def _cpus(quantity: str) -> str:
    """Kubernetes CPU quantity to docker's --cpus: 500m -> 0.5, 2 -> 2."""
    if quantity.endswith("m"):
        value = int(quantity[:-1]) / 1000
        return f"{value:g}"
    return f"{float(quantity):g}"


def _host_path(volume: Mapping[str, Any], mount: Mapping[str, Any]) -> tuple[str, bool] | None:
    """Where a pod volume mount lives on the VM: (host path, is a data-volume directory), or None for a tmpfs."""
    sub = mount.get("subPath", "")

    def under(base: str) -> str:
        return f"{base}/{sub}" if sub else base

    if volume.get("name") == "rpc-tls":
        return under(RPC_TLS_DIR), False  # nginx's certificate: placed on the host's keys tmpfs (rpc_tls_script)
    projected = volume.get("projected", {}).get("sources")
    if "configMap" in volume or (projected and all("configMap" in source for source in projected)):
        return under(layout.CONFIG_DIR), False  # the node's own and the member-wide files: all in CONFIG_DIR
    if "persistentVolumeClaim" in volume:
        return under(layout.DATA_DIR), bool(sub)
    if "emptyDir" in volume:
        if volume["emptyDir"].get("medium") == "Memory":
            return under(layout.SECRETS_DIR), False
        return None
    secret_name = volume.get("secret", {}).get("secretName", "")
    if secret_name.endswith("-node-key"):
        return under(layout.SECRETS_DIR), False  # the node key is fetched into the keys tmpfs (NODE_KEY_FILE)
    raise VmRenderError(f"pod volume {volume.get('name')!r} has no VM translation: add one in lacchain/vm.py")


def _translate(spec: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]], init: bool) -> Container:
    name = spec["name"]
    binds: list[Bind] = []
    tmpfs: list[str] = []
    data_dirs: list[str] = []
    for mount in spec.get("volumeMounts", []):
        placed = _host_path(volumes[mount["name"]], mount)
        if placed is None:
            tmpfs.append(mount["mountPath"])
            continue
        source, on_data = placed
        bind = Bind(source, mount["mountPath"], bool(mount.get("readOnly", False)))
        # The node-key secret lands inside the keys tmpfs on a VM: a container that already mounts that tmpfs at the
        # same place sees the file without a second mount.
        covered = any(
            b.read_only == bind.read_only
            and PurePosixPath(bind.target).is_relative_to(b.target)
            and bind.source == b.source + bind.target.removeprefix(b.target)
            for b in binds
        )
        if not covered:
            binds.append(bind)
        if on_data:
            data_dirs.append(source)
    env: list[tuple[str, str]] = []
    for variable in spec.get("env", []):
        if "value" in variable:
            env.append((variable["name"], str(variable["value"])))
        elif not variable.get("valueFrom", {}).get("secretKeyRef", {}).get("optional", False):
            raise VmRenderError(f"container {name}: env {variable['name']} has no VM source")
    if spec.get("envFrom"):
        raise VmRenderError(f"container {name}: envFrom has no VM translation")
    security = spec.get("securityContext", {})
    if security.get("runAsUser", NODE_UID) != NODE_UID:
        raise VmRenderError(f"container {name} runs as uid {security['runAsUser']}; every VM container is {NODE_UID}")
    limits = spec.get("resources", {}).get("limits", {})
    args = tuple(str(a) for a in spec.get("args", ()))
    if "command" in spec:
        raise VmRenderError(f"container {name}: a pod command override has no VM translation yet")
    return Container(
        name=name,
        image=spec["image"],
        args=tuple(args),
        env=tuple(env),
        binds=tuple(binds),
        tmpfs=tuple(tmpfs),
        read_only=bool(security.get("readOnlyRootFilesystem", False)),
        drop_all_capabilities="ALL" in security.get("capabilities", {}).get("drop", []),
        no_new_privileges=security.get("allowPrivilegeEscalation", True) is False,
        memory=_memory(limits["memory"]) if "memory" in limits else None,
        cpus=_cpus(str(limits["cpu"])) if "cpu" in limits else None,
        init=init,
        data_dirs=tuple(data_dirs),
    )


def containers(node: VmNode) -> list[Container]:
    """The pod's containers (init containers first) as the VM runs them."""
    template = pod.statefulset(node.pod)["spec"]["template"]["spec"]
    pod_security = template.get("securityContext", {})
    if pod_security.get("runAsUser", NODE_UID) != NODE_UID:
        raise VmRenderError("the pod's runAsUser changed: update NODE_UID and the host directory owners")
    volumes = {v["name"]: v for v in template["volumes"]}
    result = [_translate(c, volumes, init=True) for c in template.get("initContainers", [])]
    result += [_translate(c, volumes, init=False) for c in template["containers"]]
    return result


def docker_run(container: Container) -> list[str]:
    """The ``docker run`` argv of a container (host network, removed on exit so a restart starts clean)."""
    # Logs go to the journal (with the unit's), not to json files on the OS disk.
    argv = [DOCKER, "run", "--rm", "--name", container.container_name, "--network", "host", "--log-driver", "journald"]
    argv += ["--user", container.user]
    if container.read_only:
        argv.append("--read-only")
    if container.drop_all_capabilities:
        argv += ["--cap-drop", "ALL"]
    if container.no_new_privileges:
        argv += ["--security-opt", "no-new-privileges"]
    if container.memory:
        argv += ["--memory", container.memory]
    if container.cpus:
        argv += ["--cpus", container.cpus]
    for bind in container.binds:
        # --mount (not -v) fails when the source is missing instead of creating an empty directory in its place.
        option = f"type=bind,source={bind.source},target={bind.target}"
        argv += ["--mount", option + (",readonly" if bind.read_only else "")]
    for path in container.tmpfs:
        argv += ["--tmpfs", f"{path}:rw,nosuid,nodev,noexec"]
    for name, value in container.env:
        argv += ["--env", f"{name}={value}"]
    argv.append(container.image)
    argv += container.args
    return argv


# --- systemd ------------------------------------------------------------------------------------------------------


def systemd_quote(word: str) -> str:
    """One word of an Exec= line: specifiers (%) and variables ($) escaped, quoted when it has blanks or quotes."""
    escaped = word.replace("%", "%%").replace("$", "$$")
    if escaped and not re.search(r"[\s\"'\\;]", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_line(argv: Sequence[str]) -> str:
    return " ".join(systemd_quote(word) for word in argv)


def unit_file(sections: Sequence[tuple[str, Sequence[tuple[str, str]]]], comment: str) -> str:
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines.append("# Generated by lacchain-cloud (lacchain/vm.py); replaced with the instance on every change.")
    for title, entries in sections:
        lines.append("")
        lines.append(f"[{title}]")
        lines += [f"{key}={value}" for key, value in entries]
    return "\n".join(lines) + "\n"


def _container_dependencies(container: Container, init_units: Sequence[str]) -> list[str]:
    """Units a container needs started first (besides docker and its mounts)."""
    needs: list[str] = [] if container.init else [METADATA_GUARD_UNIT]
    if container.name == "besu":
        needs.append(NODE_KEY_UNIT)
        needs += init_units  # a writer's Besu reads the TM public key the key agent writes
    if container.name == "nginx":
        needs.append(RPC_TLS_UNIT)
    if container.name == "tm":
        needs += init_units
    return needs


def container_unit(node: VmNode, container: Container, init_units: Sequence[str]) -> str:
    needs = ["docker.service", *_container_dependencies(container, init_units)]
    mounts = sorted(
        {
            base
            for bind in container.binds
            for base in (layout.SECRETS_DIR, layout.DATA_DIR)
            if PurePosixPath(bind.source).is_relative_to(base)
        }
    )
    after = ["network-online.target", *needs]
    if container.name in ("nginx", "healthcheck", "ethstats"):
        after.append("lacchain-besu.service")  # ordering only: they retry until Besu answers
    unit: list[tuple[str, str]] = [
        ("Description", f"LACChain {container.name} of {node.pod.object_name}"),
        ("Wants", "network-online.target"),
        ("Requires", " ".join(needs)),
        ("After", " ".join(after)),
        *([("RequiresMountsFor", " ".join(mounts))] if mounts else []),
        ("PartOf", TARGET),
    ]
    service: list[tuple[str, str]] = []
    if container.init:
        service += [("Type", "oneshot"), ("RemainAfterExit", "yes")]
        if container.name == "keyagent":
            # `docker run` exits with the agent's code. A oneshot that will restart keeps its dependents' start jobs
            # waiting, so the transaction manager and Besu start once the agent has succeeded.
            service += [
                ("Restart", "on-failure"),
                ("RestartSec", str(KEYAGENT_RETRY_SECONDS)),
                ("RestartPreventExitStatus", " ".join(str(code) for code in KEYAGENT_FINAL_EXIT_CODES)),
            ]
    else:
        service += [("Type", "simple"), ("Restart", "always"), ("RestartSec", "10")]
    service.append(("ExecStartPre", "-" + exec_line([DOCKER, "rm", "--force", container.container_name])))
    for directory in container.data_dirs:
        install = ["/usr/bin/install", "-d", "-o", str(NODE_UID), "-g", str(NODE_UID), "-m", "0750", directory]
        service.append(("ExecStartPre", exec_line(install)))
    service.append(("ExecStart", exec_line(docker_run(container))))
    if not container.init:
        service.append(
            ("ExecStop", exec_line([DOCKER, "stop", "--time", str(STOP_GRACE_SECONDS), container.container_name]))
        )
        service.append(("TimeoutStopSec", str(STOP_GRACE_SECONDS + 30)))
    service.append(("TimeoutStartSec", "15min"))  # first start pulls the image
    return unit_file(
        [("Unit", unit), ("Service", service)],
        f"The pod's {container.name} container, run by Docker on the host network.",
    )


def target_unit(node: VmNode, units: Sequence[str]) -> str:
    return unit_file(
        [
            ("Unit", [("Description", f"LACChain node {node.pod.object_name}"), ("Wants", " ".join(units))]),
            ("Install", [("WantedBy", "multi-user.target")]),
        ],
        "Every service of the node; `systemctl restart lacchain.target` restarts them all.",
    )


def data_mount_unit(node: VmNode) -> str:
    """The private space. No default dependencies: it is not part of local-fs.target (it may attach after boot
    starts and is formatted by a service), and it is pulled in only by the node's services."""
    return unit_file(
        [
            (
                "Unit",
                [
                    ("Description", "LACChain chain data volume"),
                    ("DefaultDependencies", "no"),
                    ("Requires", PREPARE_DATA_UNIT),
                    ("After", PREPARE_DATA_UNIT),
                    ("Conflicts", "umount.target"),
                    ("Before", "umount.target"),
                ],
            ),
            (
                "Mount",
                [
                    ("What", node.data_device),
                    ("Where", layout.DATA_DIR),
                    ("Type", "ext4"),
                    ("Options", "defaults,noatime,nodev,nosuid,noexec"),
                ],
            ),
        ],
        "The node's data volume, found by its stable id (never by attachment order).",
    )


def keys_mount_unit() -> str:
    return unit_file(
        [
            ("Unit", [("Description", "LACChain keys (memory only)")]),
            (
                "Mount",
                [
                    ("What", "tmpfs"),
                    ("Where", layout.SECRETS_DIR),
                    ("Type", "tmpfs"),
                    (
                        "Options",
                        f"mode=0700,uid={NODE_UID},gid={NODE_UID},size={KEYS_TMPFS_SIZE},nodev,nosuid,noexec",
                    ),
                ],
            ),
        ],
        "Private keys live here and nowhere else: a tmpfs only the node's uid can read.",
    )


def oneshot_unit(
    description: str, command: Sequence[str], after: Sequence[str], mounts: Sequence[str], why: str
) -> str:
    return unit_file(
        [
            (
                "Unit",
                [
                    ("Description", description),
                    ("Wants", "network-online.target"),
                    ("After", " ".join(["network-online.target", *after])),
                    *([("RequiresMountsFor", " ".join(mounts))] if mounts else []),
                ],
            ),
            (
                "Service",
                [
                    ("Type", "oneshot"),
                    ("RemainAfterExit", "yes"),
                    ("ExecStart", exec_line(command)),
                    ("TimeoutStartSec", "20min"),
                ],
            ),
        ],
        why,
    )


# --- scripts ------------------------------------------------------------------------------------------------------


def sh_quote(word: str) -> str:
    """A POSIX shell single-quoted word."""
    return "'" + word.replace("'", "'\"'\"'") + "'"


def prepare_data_script(wait_seconds: int = 900) -> str:
    """Wait for the data volume, and format it only if it holds nothing at all.

    ``blkid -p`` probes the device itself (not a cache): exit 0 means a file system or partition table is there
    (keep it, whatever it is), 2 means nothing was found (a new volume: format), anything else is an error and
    nothing is touched. The volume may attach after the instance boots, hence the wait.
    """
    return f"""#!/bin/sh
# lacchain-prepare-data DEVICE: make the node's data volume mountable without ever destroying data.
set -eu
device="$1"
waited=0
while [ ! -b "$device" ]; do
    if [ "$waited" -ge {wait_seconds} ]; then
        echo "lacchain: data volume $device did not appear in {wait_seconds}s; is it attached?" >&2
        exit 1
    fi
    sleep 2
    waited=$((waited + 2))
done
real=$(readlink -f "$device")
set +e
blkid -p "$real" >/dev/null 2>&1
probe=$?
set -e
case "$probe" in
    0) echo "lacchain: $device ($real) already holds data; keeping it" ;;
    2) echo "lacchain: $device ($real) is blank; formatting ext4"
       mkfs.ext4 -q -L {DATA_FS_LABEL} -m 0 "$real" ;;
    *) echo "lacchain: blkid could not probe $real (exit $probe); refusing to format" >&2
       exit 1 ;;
esac
"""


def fetch_node_key_script(node: VmNode, out: str = layout.NODE_KEY_FILE) -> str:
    """The node-key fetch: the instance identity reads the node's own secret into the keys tmpfs (``out``)."""
    owner = f"{NODE_UID}:{NODE_UID}"
    if node.platform is Platform.GCP:
        return f"""#!/bin/sh
# Fetch this node's Besu key from Secret Manager with the instance's service account, into memory only.
set -eu
exec /usr/bin/python3 {GCE_SECRET} --version {sh_quote(node.node_key_secret + "/versions/latest")} \\
    --out {sh_quote(out)} --owner {owner}
"""
    assert node.region is not None
    return f"""#!/bin/sh
# Fetch this node's Besu key from AWS Secrets Manager with the instance role, into memory only. The key passes
# through a shell variable (memory) and printf (a shell builtin: never a process argument).
set -eu
umask 077
export AWS_PAGER=""
secret={sh_quote(node.node_key_secret)}
region={sh_quote(node.region)}
out={sh_quote(out)}
attempt=1
while ! key=$(aws secretsmanager get-secret-value --region "$region" --secret-id "$secret" \\
        --query SecretString --output text); do
    if [ "$attempt" -ge 10 ]; then
        echo "lacchain: cannot read $secret; the instance role needs secretsmanager:GetSecretValue on it" >&2
        exit 1
    fi
    sleep $((attempt * 3))
    attempt=$((attempt + 1))
done
tmp=$(mktemp "$out.XXXXXX")
printf '%s' "$key" > "$tmp"
chown {owner} "$tmp"
chmod 0400 "$tmp"
mv -f "$tmp" "$out"
"""


def rpc_tls_script(host: str, directory: str = RPC_TLS_DIR) -> str:
    """A self-signed certificate for nginx when none was placed: RPC is served over TLS from the first boot, and
    clients pin or replace it. A certificate put in ``directory`` (tls.crt, tls.key) is kept."""
    try:
        san = f"IP:{ipaddress.ip_address(host)}"
    except ValueError:
        san = f"DNS:{host}"
    owner = f"{NODE_UID}:{NODE_UID}"
    return f"""#!/bin/sh
# lacchain-rpc-tls: make sure nginx has a TLS certificate (self-signed for {host} unless one was provided).
set -eu
dir={sh_quote(directory)}
if [ -s "$dir/tls.crt" ] && [ -s "$dir/tls.key" ]; then
    exit 0
fi
install -d -m 0700 "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 397 \\
    -subj {sh_quote("/CN=" + host)} -addext {sh_quote("subjectAltName=" + san)} \\
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
chown -R {owner} "$dir"
"""


def metadata_guard_script() -> str:
    """Cut the containers' uid off from the metadata service once the init containers (the key agent) are done.

    Every container shares the host network, so without this any of them (nginx faces the Internet) could ask the
    metadata service for the instance identity's credentials and read the node's secrets. The host-side key fetch
    runs as root and is not affected; the rule lasts until reboot, when the key agent runs first again.
    """
    return f"""#!/bin/sh
# lacchain-metadata-guard: uid {NODE_UID} (every container) may not reach the instance metadata service.
set -eu
if ! iptables -w -C OUTPUT -d {METADATA_ADDRESS}/32 -m owner --uid-owner {NODE_UID} -j REJECT 2>/dev/null; then
    iptables -w -I OUTPUT 1 -d {METADATA_ADDRESS}/32 -m owner --uid-owner {NODE_UID} -j REJECT
fi
"""


def bootstrap_script(node: VmNode) -> str:
    """The one command both clouds run once the files are in place. Idempotent: it runs at every Compute Engine
    boot (startup scripts do) and once per EC2 instance (cloud-init runcmd)."""
    packages = " ".join(PACKAGES[node.platform])
    ssm = ""
    if node.platform is Platform.AWS:
        assert node.region is not None
        url = (
            f"https://s3.{node.region}.amazonaws.com/amazon-ssm-{node.region}/latest/debian_amd64/amazon-ssm-agent.deb"
        )
        ssm = f"""
# Session Manager (the only way in: no SSH). Debian's AMIs do not ship the agent; AWS publishes the package per
# region. A failure here must not keep the node down, so it only warns.
if ! installed amazon-ssm-agent; then
    if curl -fsSL --retry 5 -o /tmp/amazon-ssm-agent.deb {sh_quote(url)} && dpkg -i /tmp/amazon-ssm-agent.deb; then
        systemctl enable --now amazon-ssm-agent || echo "lacchain: could not start amazon-ssm-agent" >&2
    else
        echo "lacchain: could not install amazon-ssm-agent; Session Manager will not reach this node" >&2
    fi
    rm -f /tmp/amazon-ssm-agent.deb
fi
"""
    ddns = ""
    if any(c.name == "ddns" for c in containers(node)):
        ddns = f"""
# The DDNS daemon (uid {NODE_UID}, like every container) rewrites the peer files through a temporary file and a
# rename in {layout.CONFIG_DIR}, keeping the previous version beside it.
chown {NODE_UID}:{NODE_UID} {layout.CONFIG_DIR}
find {layout.CONFIG_DIR} -maxdepth 1 -type f -exec chown {NODE_UID}:{NODE_UID} {{}} +
"""
    return f"""#!/bin/sh
# lacchain-bootstrap: install what the bootstrap space needs (a no-op on a prepared NodeImage) and start the node.
set -eu
export DEBIAN_FRONTEND=noninteractive
installed() {{ dpkg-query -W -f='${{Status}}' "$1" 2>/dev/null | grep -q 'ok installed'; }}
missing=""
for package in {packages}; do
    installed "$package" || missing="$missing $package"
done
if [ -n "$missing" ]; then
    attempt=1
    # shellcheck disable=SC2086  # one word per package, on purpose
    until apt-get update -q && apt-get install -y -q --no-install-recommends $missing; do
        [ "$attempt" -lt 5 ] || exit 1
        sleep $((attempt * 10))
        attempt=$((attempt + 1))
    done
fi
sysctl --system >/dev/null
{ddns}systemctl daemon-reload
systemctl enable --now docker.service
systemctl enable {TARGET}
systemctl start --no-block {TARGET}
{ssm}"""


# --- files -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootFile:
    path: str
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class BootPlan:
    """Files to write (in order), then the commands to run. Both renderers deliver exactly this."""

    files: tuple[BootFile, ...]
    run: tuple[str, ...] = (BOOTSTRAP,)

    def file(self, path: str) -> BootFile:
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)


def _config_path(relative: str) -> str:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise VmRenderError(f"rendered file {relative!r} must be a relative path inside {layout.CONFIG_DIR}")
    return f"{layout.CONFIG_DIR}/{path}"


def keyagent_env(node: VmNode) -> str:
    """The key agent's settings file (``--env-file``): the node's OrionKeyVault ``agent_env``, rendered exactly as
    in the pod's ConfigMap. Names secrets; holds none."""
    assert node.keyagent_env is not None
    return pod.keyagent_settings(node.keyagent_env)


def boot_plan(node: VmNode, files: Mapping[str, str]) -> BootPlan:
    """Everything the VM needs on its OS disk, for the node's rendered (non-secret) ``files``. nginx's configuration
    is the plan's ``nginx.conf``: a node that serves RPC without one is refused, never given a default."""
    config = dict(files)
    running = containers(node)
    by_name = {c.name: c for c in running}
    if "nginx" in by_name and NGINX_CONF not in config:
        raise VmRenderError(f"{node.pod.name} serves RPC but its plan has no {NGINX_CONF} (lacchain.network_plan)")
    if node.pod.has_tm:
        config[KEYAGENT_ENV] = keyagent_env(node)
    for container in running:
        for bind in container.binds:
            if bind.source.startswith(layout.CONFIG_DIR + "/"):
                relative = bind.source.removeprefix(layout.CONFIG_DIR + "/")
                if relative not in config:
                    raise VmRenderError(f"container {container.name} mounts {relative}, which the node does not have")

    out: list[BootFile] = [BootFile(_config_path(path), text) for path, text in sorted(config.items())]
    init_units = [c.unit for c in running if c.init]
    for container in running:
        out.append(BootFile(f"{SYSTEMD_DIR}/{container.unit}", container_unit(node, container, init_units)))
    out += [
        BootFile(f"{SYSTEMD_DIR}/{DATA_MOUNT_UNIT}", data_mount_unit(node)),
        BootFile(f"{SYSTEMD_DIR}/{KEYS_MOUNT_UNIT}", keys_mount_unit()),
        BootFile(
            f"{SYSTEMD_DIR}/{PREPARE_DATA_UNIT}",
            oneshot_unit(
                "LACChain data volume: wait for it, format it only if blank",
                [PREPARE_DATA, node.data_device],
                [],
                [],
                "Runs before the data mount at every boot; it never formats a volume that holds anything.",
            ),
        ),
        BootFile(
            f"{SYSTEMD_DIR}/{NODE_KEY_UNIT}",
            oneshot_unit(
                "LACChain node key: fetch it from the node's secret into memory",
                [FETCH_NODE_KEY],
                [KEYS_MOUNT_UNIT],
                [layout.SECRETS_DIR],
                "The key is never in user data or on disk: the instance identity reads it at every boot.",
            ),
        ),
    ]
    out.append(
        BootFile(
            f"{SYSTEMD_DIR}/{METADATA_GUARD_UNIT}",
            oneshot_unit(
                "LACChain: containers may not reach the instance metadata service",
                [METADATA_GUARD],
                init_units,
                [],
                "Runs after the key agent (the only container that needs the instance identity), before the others.",
            ),
        )
    )
    out.append(BootFile(METADATA_GUARD, metadata_guard_script(), 0o755))
    if "nginx" in by_name:
        out.append(
            BootFile(
                f"{SYSTEMD_DIR}/{RPC_TLS_UNIT}",
                oneshot_unit(
                    "LACChain RPC certificate for nginx",
                    [RPC_TLS],
                    [KEYS_MOUNT_UNIT],
                    [layout.SECRETS_DIR],
                    "nginx serves RPC over TLS only; a placeholder certificate is made if none was placed.",
                ),
            )
        )
        out.append(BootFile(RPC_TLS, rpc_tls_script(node.host), 0o755))
    out += [
        BootFile(f"{SYSTEMD_DIR}/{TARGET}", target_unit(node, [c.unit for c in running if not c.init])),
        BootFile(PREPARE_DATA, prepare_data_script(), 0o755),
        BootFile(FETCH_NODE_KEY, fetch_node_key_script(node), 0o755),
        BootFile(
            "/etc/sysctl.d/60-lacchain.conf",
            "# nginx runs unprivileged (uid 1000, no capabilities) on the host network and serves 443.\n"
            f"net.ipv4.ip_unprivileged_port_start = {layout.NGINX_HTTPS_PORT}\n",
        ),
    ]
    if node.platform is Platform.GCP:
        out.append(BootFile(GCE_SECRET, gce_secret_source(), 0o755))
    out.append(BootFile(BOOTSTRAP, bootstrap_script(node), 0o755))
    return BootPlan(files=tuple(out))


def gce_secret_source() -> str:
    """The source of ``lacchain.gce_secret``, shipped as a file to Compute Engine nodes."""
    return (Path(__file__).parent / "gce_secret.py").read_text()


# --- network rules ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngressRule:
    """One inbound rule: ``protocols`` on ``port`` from ``sources`` (CIDRs). Nothing else is open."""

    name: str
    port: int
    protocols: tuple[str, ...]
    sources: tuple[str, ...]
    description: str


ANYWHERE_V4 = "0.0.0.0/0"


def _host_cidr(host: str) -> str | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a DNS name cannot be a firewall source
    return f"{address}/{32 if address.version == 4 else 128}"


def known_peer_sources(
    files: Mapping[str, str],
    own_host: str | None = None,
    member_peer_hosts: Sequence[str] = (),
    external_enodes: Sequence[str] = (),
) -> list[str]:
    """The host routes of every peer this node accepts p2p from and knows by IP, as a NetworkPolicy would select
    them: the member's own nodes whose role it accepts (``member_peer_hosts``; a NetworkPolicy selects them by label)
    and the other members' nodes the stack names (``external_enodes``: the network's bootnodes and allowlist, as in
    ``components.member._external_peer_cidrs``), plus every node it dials (its static nodes and bootnodes, which are
    of accepted roles by construction). The local allowlist file is not a source: it lists the member's every node,
    and Besu's permission to connect is not the topology's. Peers known only by DNS name cannot be firewall sources;
    they still connect when this node dials them (stateful rules let the answers in).
    """
    urls: list[str] = list(external_enodes)
    if STATIC_NODES_JSON in files:
        urls += json.loads(files[STATIC_NODES_JSON])
    if CONFIG_TOML in files:
        urls += tomllib.loads(files[CONFIG_TOML]).get("bootnodes", [])
    hosts = list(member_peer_hosts)
    for url in urls:
        try:
            hosts.append(Enode.parse(url).host)
        except EnodeError as exc:
            raise VmRenderError(f"a peer is not an enode URL: {exc}") from None
    return host_cidrs(hosts, exclude=own_host)


def host_cidrs(hosts: Sequence[str], exclude: str | None = None) -> list[str]:
    """/32 (/128) routes of the hosts that are IP addresses, without ``exclude``, sorted (IPv4 first)."""
    own = _host_cidr(exclude) if exclude else None
    cidrs = {cidr for cidr in map(_host_cidr, hosts) if cidr is not None and cidr != own}
    return sorted(cidrs, key=lambda c: (ipaddress.ip_network(c).version, ipaddress.ip_network(c)))


def ingress_rules(
    role: Role,
    has_tm: bool,
    p2p_port: int,
    peer_sources: Sequence[str],
    rpc_allowed_cidrs: Sequence[str],
    tm_sources: Sequence[str] = (),
) -> list[IngressRule]:
    """Exactly the role's ports (the VM twin of ``lacchain.kubernetes.network_policy``):

    - p2p TCP (RLPx) and UDP (discovery): from anywhere for boots (the network's entry point, which every LACChain
      node may reach), from the known peers otherwise;
    - the transaction manager (4040) on writers that run one: from the same peers and the member's other
      transaction managers (``tm_sources``);
    - nginx (443) on nodes that serve RPC: only from ``rpcAllowedCidrs``, never from anywhere;
    - nothing else: no SSH (Session Manager / OS Login through IAP are the ways in), no metrics, no health port.

    A rule with no sources is left out rather than emitted empty (an empty source list means "anywhere" to some
    clouds).
    """
    p2p = [ANYWHERE_V4] if role is Role.BOOT else sorted(set(peer_sources))
    rules: list[IngressRule] = []
    if p2p:
        rules.append(IngressRule("p2p", p2p_port, ("tcp", "udp"), tuple(p2p), "Besu p2p (RLPx TCP, discovery UDP)"))
    tm = sorted(set(p2p) | set(tm_sources))
    if has_tm and tm:
        rules.append(IngressRule("tm", layout.TESSERA_P2P_PORT, ("tcp",), tuple(tm), "transaction manager p2p"))
    rpc = sorted(set(rpc_allowed_cidrs))
    if role is not Role.VALIDATOR and rpc:
        for cidr in rpc:
            if ipaddress.ip_network(cidr).prefixlen == 0:
                raise VmRenderError(f"{cidr} would open RPC to the whole Internet")
        rules.append(IngressRule("rpc", layout.NGINX_HTTPS_PORT, ("tcp",), tuple(rpc), "JSON-RPC through nginx (TLS)"))
    return rules


def split_families(cidrs: Sequence[str]) -> tuple[list[str], list[str]]:
    """(IPv4, IPv6) CIDRs: firewall APIs keep the two apart."""
    v4 = [c for c in cidrs if ipaddress.ip_network(c).version == 4]
    v6 = [c for c in cidrs if ipaddress.ip_network(c).version == 6]
    return v4, v6
