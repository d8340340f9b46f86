"""``lacchain synth``: run the member program that ``pulumi up`` runs, offline, under Pulumi's mock engine.

Nothing is deployed and no Pulumi CLI or provider plugin is needed. Every resource the program declares is
recorded as Pulumi's engine would receive it (type, name, parent, options, inputs), with secrets shown as
``[secret]``. The output directory holds:

- ``plan.json``: every resource, sorted by URN, plus the stack outputs;
- ``plan.txt``: the resource tree, for reading;
- ``nodes/<node>/``: what each node receives: its rendered files (``config.toml``...), its Kubernetes manifests, or its
  cloud-init user data and IAM policies;
- ``shared/``: member-wide objects (namespaces, NetworkPolicies, PodDisruptionBudgets, key vaults).

Same input, byte-identical output: ``diff -r`` (or ``lacchain diff``) between two commits is a reviewable change.
Values a cloud assigns at deploy time (an Elastic IP, a static address) are stood in for by documentation-range
addresses (198.51.100.0/24), derived from the resource name so they are stable between runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

from components.gc_tuning import paused_gc
from lacchain.stack_config import CONFIG_NAMESPACE

SECRET = "[secret]"
UNKNOWN = "[unknown]"
PROJECT = "lacchain-cloud"
NODE_TYPE = "lacchain:index:LacchainNode"


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    provider: str | None
    protect: bool
    retain_on_delete: bool
    depends_on: list[str]
    inputs: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "provider": self.provider,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "dependsOn": self.depends_on,
            "inputs": self.inputs,
        }


def plain(value: Any) -> Any:
    """Turn deserialized Pulumi property values into plain JSON: secrets become ``[secret]``, unknowns
    ``[unknown]``, resource references their URN, integral floats (Pulumi's numbers) integers, and assets and
    archives (a function's code) the SHA-256 of each file, so the plan shows what changed and does not depend on
    where the project is checked out."""
    if isinstance(value, pulumi.asset.AssetArchive):
        return {"archive": {name: plain(item) for name, item in sorted(value.assets.items())}}
    if isinstance(value, pulumi.asset.FileAsset):
        return {"sha256": hashlib.sha256(Path(value.path).read_bytes()).hexdigest()}
    if isinstance(value, pulumi.asset.StringAsset):
        return {"sha256": hashlib.sha256(value.text.encode()).hexdigest()}
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return mask(value.get("value"))
        if sig == rpc._special_resource_sig:
            return value.get("urn", UNKNOWN)
        if sig is not None:
            return UNKNOWN
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is rpc.UNKNOWN or isinstance(value, pulumi.output.Unknown):
        return UNKNOWN
    return value


def mask(value: Any) -> Any:
    """A secret's shape without its content: keys of a secret map stay (they name what is stored), every
    value becomes ``[secret]``, so masked manifests still match their schemas."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) is None:
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return SECRET


def canonical(value: Any) -> Any:
    """Dicts with sorted keys at every level, so output does not depend on the order the engine reports."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def _provider_urn(reference: str) -> str | None:
    """Provider references are ``<urn>::<id>``; keep the URN."""
    return reference.rsplit("::", 1)[0] if reference else None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Pulumi's mock monitor, also keeping every registration request as the engine would see it."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            self.recorded.append(
                RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    custom=bool(request.custom),
                    provider=_provider_urn(request.provider),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    depends_on=sorted(request.dependencies),
                    inputs=plain(inputs),
                )
            )
        return response


def documentation_ip(name: str) -> str:
    """A stable stand-in for an address the cloud assigns, from 198.51.100.0/24 (TEST-NET-2)."""
    return f"198.51.100.{int(hashlib.sha256(name.encode()).hexdigest(), 16) % 254 + 1}"


def _stable_hex(name: str, digits: int) -> str:
    """Hex digits derived from a name: stand-in values that look real and never change between runs."""
    return hashlib.sha256(name.encode()).hexdigest()[:digits]


def _secret_arn(name: str, inputs: dict[str, Any]) -> str:
    """A Secrets Manager ARN: the secret's region (mocks see only inputs, so the program passes ``region``) and
    name, plus the 6-character suffix Secrets Manager appends."""
    region = inputs.get("region") or "us-east-1"
    return f"arn:aws:secretsmanager:{region}:123456789012:secret:{inputs.get('name', name)}-{_stable_hex(name, 6)}"


def _uuid(name: str) -> str:
    """A stable UUID-shaped id (KMS key ids are UUIDs)."""
    digest = _stable_hex(name, 32)
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _ami(args: dict[str, Any]) -> str:
    key = f"{args.get('region')}:{args.get('name')}"
    return f"ami-0{_stable_hex(key, 16)}"


CLOUD_ASSIGNED: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "aws:ec2/eip:Eip": lambda name, _: {"publicIp": documentation_ip(name), "allocationId": f"eipalloc-{name}"},
    "gcp:compute/address:Address": lambda name, _: {"address": documentation_ip(name)},
    "aws:iam/role:Role": lambda name, _: {"arn": f"arn:aws:iam::123456789012:role/{name}"},
    "gcp:serviceaccount/account:Account": lambda name, inputs: {
        "email": f"{inputs.get('accountId', name)}@{inputs.get('project', 'project')}.iam.gserviceaccount.com"
    },
    "aws:secretsmanager/secret:Secret": lambda name, inputs: {"arn": _secret_arn(name, inputs)},
    # OrionKeyVault's customer-managed key: its ARN is in every TM writer's IAM policy and key agent settings.
    "aws:kms/key:Key": lambda name, inputs: {
        "arn": f"arn:aws:kms:{inputs.get('region') or 'us-east-1'}:123456789012:key/{_uuid(name)}",
        "keyId": _uuid(name),
    },
    # Secret Manager's service agent, which OrionKeyVault lets encrypt with its Cloud KMS key (CMEK).
    "gcp:projects/serviceIdentity:ServiceIdentity": lambda _, inputs: {
        "email": "service-123456789012@gcp-sa-secretmanager.iam.gserviceaccount.com",
        "member": "serviceAccount:service-123456789012@gcp-sa-secretmanager.iam.gserviceaccount.com",
    },
    "aws:ec2/instance:Instance": lambda name, _: {"publicIp": documentation_ip(f"{name}-instance")},
    "gcp:secretmanager/secret:Secret": lambda name, inputs: {
        "name": f"projects/{inputs.get('project', 'project')}/secrets/{inputs.get('secretId', name)}"
    },
    "gcp:compute/disk:Disk": lambda name, inputs: {
        "selfLink": f"https://www.googleapis.com/compute/v1/projects/{inputs.get('project', 'project')}/zones/"
        f"{inputs.get('zone', 'zone')}/disks/{inputs.get('name', name)}"
    },
    # DdnsZone (components/ddns_zone.py): ids and ARNs in the shapes the clouds give, so its IAM policy can be audited.
    "aws:route53/zone:Zone": lambda name, inputs: {
        "zoneId": f"Z{_stable_hex(name, 20).upper()}",
        "arn": f"arn:aws:route53:::hostedzone/Z{_stable_hex(name, 20).upper()}",
        "nameServers": [f"ns-{n}.awsdns-{_stable_hex(name + str(n), 2)}.{tld}" for n, tld in ((1, "com"), (2, "net"))],
    },
    "aws:dynamodb/table:Table": lambda name, inputs: {
        "arn": f"arn:aws:dynamodb:{inputs.get('region') or 'us-east-1'}:123456789012:table/{inputs.get('name', name)}"
    },
    "aws:cloudwatch/logGroup:LogGroup": lambda name, inputs: {
        "arn": f"arn:aws:logs:{inputs.get('region') or 'us-east-1'}:123456789012:log-group:{inputs.get('name', name)}"
    },
    "aws:lambda/function:Function": lambda name, inputs: {
        "arn": f"arn:aws:lambda:{inputs.get('region') or 'us-east-1'}:123456789012:function:{inputs.get('name', name)}"
    },
    "aws:lambda/functionUrl:FunctionUrl": lambda name, inputs: {
        "functionUrl": f"https://{_stable_hex(name, 32)}.lambda-url.{inputs.get('region') or 'us-east-1'}.on.aws/"
    },
    "gcp:dns/managedZone:ManagedZone": lambda name, _: {
        "nameServers": [f"ns-cloud-{_stable_hex(name, 1)}{n}.googledomains.com." for n in range(1, 5)]
    },
    "gcp:projects/iAMCustomRole:IAMCustomRole": lambda name, inputs: {
        "name": f"projects/{inputs.get('project', 'project')}/roles/{inputs.get('roleId', name)}"
    },
    "gcp:cloudfunctionsv2/function:Function": lambda name, inputs: {
        "url": f"https://{inputs.get('name', name)}-{_stable_hex(name, 10)}-{inputs.get('location', 'region')}.a.run.app"
    },
}
"""Outputs that exist only after a cloud creates the resource, keyed by resource type."""


INVOKE_RESULTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _: {
        "accountId": "123456789012",
        "arn": "arn:aws:iam::123456789012:user/synth",
        "userId": "synth",
    },
    "aws:index/getRegion:getRegion": lambda a: {"name": a.get("name") or "us-east-1", "region": "us-east-1"},
    "aws:index/getPartition:getPartition": lambda _: {"partition": "aws", "dnsSuffix": "amazonaws.com"},
    # Debian's public SSM parameter naming the region's current Debian 12 AMI.
    "aws:ssm/getParameter:getParameter": lambda a: {
        "name": a.get("name"),
        "type": "String",
        "value": _ami(a),
        "insecureValue": _ami(a),
        "version": 1,
        "id": a.get("name"),
        "arn": f"arn:aws:ssm:{a.get('region')}::parameter{a.get('name')}",
    },
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a: {
        "names": [f"{a.get('region')}{suffix}" for suffix in "abc"],
        "zoneIds": [f"{a.get('region')}-az{index}" for index in (1, 2, 3)],
        "groupNames": [a.get("region")],
        "id": a.get("region"),
    },
    "aws:ec2/getSubnet:getSubnet": lambda a: {
        "id": a.get("id"),
        "vpcId": f"vpc-0{_stable_hex(str(a.get('id')), 16)}",
        "availabilityZone": f"{a.get('region')}a",
        "cidrBlock": "10.0.0.0/24",
    },
    "aws:route53/getZone:getZone": lambda a: {
        "zoneId": a.get("zoneId"),
        "id": a.get("zoneId"),
        "name": "existing.example.org",
        "nameServers": ["ns-1.awsdns-00.com", "ns-2.awsdns-00.net"],
    },
    "gcp:dns/getManagedZone:getManagedZone": lambda a: {
        "name": a.get("name"),
        "dnsName": "existing.example.org.",
        "nameServers": [f"ns-cloud-e{n}.googledomains.com." for n in range(1, 5)],
    },
}
"""Answers to the data-source calls (invokes) the program makes, as a cloud account would give them."""


class SynthMocks(pulumi.runtime.Mocks):
    """Resources echo their inputs as state, plus the cloud-assigned outputs the program reads."""

    def __init__(self) -> None:
        self.received: dict[tuple[str, str], dict[str, Any]] = {}
        """Decoded inputs by (type, name), for the recording monitor."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.received[(args.typ, args.name)] = args.inputs
        # Kubernetes objects: the engine's state after creation is the object as the API server returns it. The
        # program reads only its metadata; echoing the whole spec back would just be walked and discarded.
        if args.typ.startswith("kubernetes:") and args.custom:
            state = {k: v for k, v in args.inputs.items() if k in ("apiVersion", "kind", "metadata")}
        else:
            state = dict(args.inputs)
        assigned = CLOUD_ASSIGNED.get(args.typ)
        if assigned is not None:
            state.update(assigned(args.name, args.inputs))
        state.setdefault("arn", f"arn:synth:{args.typ}:{args.name}")
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # "No failures" is an empty list: Pulumi's mock monitor iterates it.
        return INVOKE_RESULTS.get(args.token, lambda _: {})(args.args), []


@dataclass
class SynthResult:
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    config_keys: list[str] = field(default_factory=list)


def config_map(document: dict[str, Any]) -> dict[str, str]:
    """A ``lacchain-cloud:`` document as Pulumi passes config to programs: objects JSON-encoded, strings raw."""
    return {
        f"{CONFIG_NAMESPACE}:{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in document.items()
    }


def run_program(stack_name: str, document: dict[str, Any], program: Callable[[], object]) -> SynthResult:
    """Run ``program`` under mocks with the stack's configuration, recording every resource."""
    mocks = SynthMocks()
    monitor = RecordingMonitor(mocks)
    # A fresh root stack per run: set_mocks keeps an existing one, and with it the previous run's exports.
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack_name, preview=False, monitor=monitor)
    secret_keys = [f"{CONFIG_NAMESPACE}:{key}" for key in ("nodeKeys", "ddnsTreeKey", "ddnsCa", "ddnsTsigSecret")]
    pulumi.runtime.set_all_config(config_map(document), secret_keys=secret_keys)
    settings = pulumi.runtime.settings.SETTINGS
    settings.rpc_manager.clear()
    settings.outputs.clear()

    def run() -> None:
        program()

    with paused_gc():
        _sync_await(pulumi.runtime.stack.run_pulumi_func(run))
    root = pulumi.runtime.settings.get_root_resource()
    outputs: dict[str, Any] = {}
    if root is not None:
        for key, value in sorted(getattr(root, "outputs", {}).items()):
            outputs[key] = _resolve(value)
    return SynthResult(stack_name, sorted(monitor.recorded, key=lambda r: r.urn), outputs)


def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)

    async def get() -> Any:
        if await output.is_secret():
            return SECRET
        if not await output.is_known():
            return UNKNOWN
        return await output.future()

    return plain(_sync_await(get()))


# --- writing the output directory --------------------------------------------------------------------------


YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's emitter when PyYAML was built with it (about 10x faster on large ConfigMaps); same output."""


def _dump_yaml(documents: Iterable[dict[str, Any]]) -> str:
    return yaml.dump_all(
        list(documents), Dumper=YAML_DUMPER, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True
    )


def _manifest(resource: RecordedResource) -> dict[str, Any]:
    """A Kubernetes resource's inputs are its manifest; written as kubectl users expect (apiVersion, kind and
    metadata first, then the rest), every level in sorted order."""
    inputs = canonical(resource.inputs)
    head = {key: inputs.pop(key) for key in ("apiVersion", "kind", "metadata") if key in inputs}
    return {**head, **inputs}


def _node_of(resource: RecordedResource, by_urn: dict[str, RecordedResource], member_prefix: str) -> str | None:
    """The node a resource belongs to: the LacchainNode among its ancestors."""
    cursor: RecordedResource | None = resource
    while cursor is not None:
        if cursor.type == NODE_TYPE:
            return cursor.name.removeprefix(member_prefix)
        cursor = by_urn.get(cursor.parent) if cursor.parent else None
    return None


ARTIFACT_EXTRACTORS: dict[str, Callable[[RecordedResource], dict[str, str]]] = {}
"""Per resource type: the files (relative path -> text) a node receives from that resource."""


def artifact(resource_type: str) -> Callable[[Callable[[RecordedResource], dict[str, str]]], Any]:
    def register(fn: Callable[[RecordedResource], dict[str, str]]) -> Any:
        ARTIFACT_EXTRACTORS[resource_type] = fn
        return fn

    return register


@artifact("kubernetes:core/v1:ConfigMap")
def _configmap_files(resource: RecordedResource) -> dict[str, str]:
    data = resource.inputs.get("data") or {}
    return {key.replace("__", "/"): str(text) for key, text in sorted(data.items())}


def _boot_config_files(written: dict[str, str]) -> dict[str, str]:
    """The node's rendered files among the files a VM's boot data writes, beside its boot data as for Kubernetes."""
    from lacchain.layout import CONFIG_DIR

    prefix = CONFIG_DIR + "/"
    return {path.removeprefix(prefix): text for path, text in written.items() if path.startswith(prefix)}


@artifact("aws:ec2/instance:Instance")
def _aws_user_data(resource: RecordedResource) -> dict[str, str]:
    """cloud-init user data (gzip+base64 in ``userDataBase64``, decoded here), and the node files it writes."""
    from lacchain.cloud_init import decode_ec2_user_data

    user_data = resource.inputs.get("userData")
    encoded = resource.inputs.get("userDataBase64")
    if isinstance(encoded, str) and encoded not in (SECRET, UNKNOWN):
        user_data = decode_ec2_user_data(encoded)
    if not isinstance(user_data, str) or user_data in (SECRET, UNKNOWN):
        return {}
    out = {"cloud-init.yaml": user_data}
    document = yaml.safe_load(user_data) or {}
    written = {str(f["path"]): str(f.get("content", "")) for f in document.get("write_files", [])}
    out.update(_boot_config_files(written))
    return out


@artifact("gcp:compute/instance:Instance")
def _gcp_user_data(resource: RecordedResource) -> dict[str, str]:
    """Compute Engine boot data: the startup script (what Debian images run) or, on images that run cloud-init and
    were given one, ``user-data``; and the node files the script writes."""
    from lacchain.cloud_init import startup_script_files

    metadata = resource.inputs.get("metadata") or {}
    out: dict[str, str] = {}
    user_data = metadata.get("user-data")
    if isinstance(user_data, str):
        out["cloud-init.yaml"] = user_data
    script = resource.inputs.get("metadataStartupScript") or metadata.get("startup-script")
    if isinstance(script, str) and script not in (SECRET, UNKNOWN):
        out["startup-script.sh"] = script
        out.update(_boot_config_files({path: text for path, (_, text) in startup_script_files(script).items()}))
    return out


@artifact("gcp:secretmanager/secretIamMember:SecretIamMember")
def _gcp_secret_grant(resource: RecordedResource) -> dict[str, str]:
    """A GCP IAM grant on one secret, as the reviewable record of what the node's account may do."""
    grant = {key: resource.inputs.get(key) for key in ("secretId", "role", "member", "project")}
    return {f"iam/{resource.name}.json": json.dumps(grant, indent=2, sort_keys=True) + "\n"}


def _policy_artifact(resource: RecordedResource) -> dict[str, str]:
    policy = resource.inputs.get("policy")
    if not isinstance(policy, str):
        return {}
    try:
        text = json.dumps(json.loads(policy), indent=2, sort_keys=True) + "\n"
    except json.JSONDecodeError:
        text = policy
    return {f"iam/{resource.name}.json": text}


for _policy_type in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy"):
    ARTIFACT_EXTRACTORS[_policy_type] = _policy_artifact


def write_output(result: SynthResult, out: Path, member: str) -> None:
    """Write plan.json, plan.txt, nodes/ and shared/ into ``out`` (replacing what a previous synth wrote)."""
    with paused_gc():
        _write_output(result, out, member)


def _write_output(result: SynthResult, out: Path, member: str) -> None:
    for stale in ("nodes", "shared"):
        shutil.rmtree(out / stale, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    plan = {
        "project": PROJECT,
        "stack": result.stack,
        "outputs": result.outputs,
        "resources": [r.as_json() for r in result.resources],
    }
    # orjson: the standard library's encoder is pure Python whenever it indents (1.7 s of a 700-node synth).
    (out / "plan.json").write_bytes(orjson.dumps(plan, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    (out / "plan.txt").write_text(render_tree(result))

    by_urn = {r.urn: r for r in result.resources}
    prefix = f"{member}-"
    per_node_manifests: dict[str, list[dict[str, Any]]] = {}
    shared_manifests: list[dict[str, Any]] = []
    per_node_files: dict[str, dict[str, str]] = {}
    for resource in result.resources:
        node = _node_of(resource, by_urn, prefix)
        if resource.type.startswith("kubernetes:") and resource.custom:
            (per_node_manifests.setdefault(node, []) if node else shared_manifests).append(_manifest(resource))
        extractor = ARTIFACT_EXTRACTORS.get(resource.type)
        if extractor is not None:
            target = per_node_files.setdefault(node or "", {})
            target.update(extractor(resource))
    outputs: dict[Path, str] = {}
    for node, files in sorted(per_node_files.items()):
        base = out / "nodes" / node if node else out / "shared"
        outputs.update({base / path: text for path, text in files.items()})
    for node, documents in sorted(per_node_manifests.items()):
        outputs[out / "nodes" / node / "kubernetes.yaml"] = _dump_yaml(documents)
    if shared_manifests:
        outputs[out / "shared" / "kubernetes.yaml"] = _dump_yaml(shared_manifests)
    write_files(outputs)


WRITER_THREADS = 8


def write_files(outputs: Mapping[Path, str]) -> None:
    """Create the directories, then write the files from a few threads: creating a file costs most of a
    millisecond on some filesystems (network or overlay), thousands of them add up, and the system calls release
    the GIL. The content does not depend on the order of writes."""
    for directory in sorted({path.parent for path in outputs}):
        directory.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=WRITER_THREADS) as pool:
        for future in [pool.submit(path.write_text, text) for path, text in outputs.items()]:
            future.result()


def render_tree(result: SynthResult) -> str:
    """The resource tree, one resource a line: ``type name`` with protect/retain markers."""
    children: dict[str | None, list[RecordedResource]] = {}
    known = {r.urn for r in result.resources}
    for resource in result.resources:
        children.setdefault(resource.parent if resource.parent in known else None, []).append(resource)
    lines = [f"{PROJECT}/{result.stack}"]

    def walk(parent: str | None, indent: str) -> None:
        items = children.get(parent, [])
        for index, resource in enumerate(items):
            last = index == len(items) - 1
            marks = "".join(
                [" [protected]" if resource.protect else "", " [kept on delete]" if resource.retain_on_delete else ""]
            )
            lines.append(f"{indent}{'└─ ' if last else '├─ '}{resource.type} {resource.name}{marks}")
            walk(resource.urn, indent + ("   " if last else "│  "))

    walk(None, "")
    return "\n".join(lines) + "\n"
