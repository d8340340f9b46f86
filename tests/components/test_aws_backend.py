"""``AwsBackend`` under Pulumi's mocks: what the AWS provider would receive for every role, checked field by field.

The member program runs as ``pulumi up`` would run it (``lacchain_cli.synth.run_program`` records each registration
the engine gets, secrets masked). The user data is decoded and validated with ``cloud-init schema``; every IAM policy
the program generates is audited with parliament; the node key must appear nowhere but in its secret version.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import parliament
import pytest
import yaml

from components.backends import aws as aws_backend
from components.member import member_program
from lacchain import cloud_init, layout, vm
from lacchain.genesis import GenesisSpec, build_genesis, render_genesis
from lacchain.keys import NodeKey
from lacchain.presets import preset
from lacchain_cli.synth import SECRET, RecordedResource, SynthResult, run_program, write_output
from services.keyagent.cli import parse_config
from tests.unit.test_cloud_init import assert_valid_cloud_config, systemd_verify, write_files_of

REPO = Path(__file__).resolve().parents[2]
NODE_ID = "ab" * 64
EXTERNAL_BOOT = f"enode://{NODE_ID}@203.0.113.9:60606"
KEYS = {
    name: NodeKey.derive_dev_key("aws backend test", name)
    for name in ("validator-1", "boot-1", "writer-1", "observer-1")
}
PLACEMENT = {"region": "sa-east-1"}
VAULT = "acme-tm-keys-sa-east-1"


def aws_stack(**network: Any) -> dict[str, Any]:
    """Every role on AWS: a custom network with one external bootnode, onchain-free (local permissioning)."""
    return {
        "member": "acme",
        "network": {"preset": "custom", "chainId": 1337, "bootnodes": [EXTERNAL_BOOT], **network},
        "nodeKeys": {name: key.hex for name, key in KEYS.items()},
        "nodes": [
            {"name": "validator-1", "role": "validator", "platform": "aws", "placement": PLACEMENT},
            {
                "name": "boot-1",
                "role": "boot",
                "platform": "aws",
                "placement": {**PLACEMENT, "zone": "sa-east-1b"},
                "rpcAllowedCidrs": ["10.0.0.0/8"],
            },
            {
                "name": "writer-1",
                "role": "writer",
                "platform": "aws",
                "transactionManager": "tessera",
                "size": "large",
                "diskGb": 300,
                "placement": {**PLACEMENT, "subnetId": "subnet-0123abcd"},
                "rpcAllowedCidrs": ["203.0.113.0/24", "198.51.100.128/25"],
            },
            {
                "name": "observer-1",
                "role": "observer",
                "platform": "aws",
                "staticAddress": False,
                "dnsName": "observer.acme.example.org",
                "p2pPort": 30303,
                "placement": PLACEMENT,
            },
        ],
    }


def synth(document: dict[str, Any], project: Path = REPO, stack: str = "test") -> SynthResult:
    return run_program(stack, document, lambda: member_program(project))


@pytest.fixture(scope="module")
def result() -> SynthResult:
    return synth(aws_stack())


def of_type(result: SynthResult, resource_type: str) -> dict[str, RecordedResource]:
    return {r.name: r for r in result.resources if r.type == resource_type}


def one(result: SynthResult, resource_type: str, name: str) -> RecordedResource:
    return of_type(result, resource_type)[name]


def user_data(result: SynthResult, node: str) -> str:
    instance = one(result, "aws:ec2/instance:Instance", f"acme-{node}")
    return cloud_init.decode_ec2_user_data(instance.inputs["userDataBase64"])


def eip(result: SynthResult, node: str) -> str:
    return str(one(result, "aws:ec2/eip:Eip", f"acme-{node}-eip").inputs.get("publicIp") or _eip_output(result, node))


def _eip_output(result: SynthResult, node: str) -> str:
    enode = result.outputs["nodes"][node]["enode"]
    return enode.split("@", 1)[1].rsplit(":", 1)[0]


def ingress(result: SynthResult, node: str) -> set[tuple[str, int, tuple[str, ...]]]:
    group = one(result, "aws:ec2/securityGroup:SecurityGroup", f"acme-{node}-sg")
    return {
        (rule["protocol"], rule["fromPort"], tuple(rule.get("cidrBlocks", [])))
        for rule in group.inputs["ingress"]
        if rule["fromPort"] == rule["toPort"]
    } | {("RANGE", -1, ()) for rule in group.inputs["ingress"] if rule["fromPort"] != rule["toPort"]}


# --- network ----------------------------------------------------------------------------------------------------


def test_security_groups_open_exactly_the_roles_ports(result: SynthResult) -> None:
    boot_ip = f"{_eip_output(result, 'boot-1')}/32"
    external = "203.0.113.9/32"
    assert ingress(result, "boot-1") == {
        ("tcp", 60606, ("0.0.0.0/0",)),
        ("udp", 60606, ("0.0.0.0/0",)),
        ("tcp", 443, ("10.0.0.0/8",)),
    }
    # validators: p2p only from the member's boots and validators and the network's bootnodes; no RPC at all
    assert ingress(result, "validator-1") == {
        ("tcp", 60606, (boot_ip, external)),
        ("udp", 60606, (boot_ip, external)),
    }
    assert ingress(result, "writer-1") == {
        ("tcp", 60606, (boot_ip, external)),
        ("udp", 60606, (boot_ip, external)),
        ("tcp", 4040, (boot_ip, external)),
        ("tcp", 443, ("198.51.100.128/25", "203.0.113.0/24")),
    }
    # an observer without rpcAllowedCidrs serves RPC to nobody: no 443 rule at all; its own p2p port
    assert ingress(result, "observer-1") == {
        ("tcp", 30303, (boot_ip, external)),
        ("udp", 30303, (boot_ip, external)),
    }


def test_no_rule_opens_rpc_or_anything_but_boot_p2p_to_everyone(result: SynthResult) -> None:
    for group in of_type(result, "aws:ec2/securityGroup:SecurityGroup").values():
        for rule in group.inputs["ingress"]:
            wide = "0.0.0.0/0" in rule.get("cidrBlocks", []) or "::/0" in rule.get("ipv6CidrBlocks", [])
            if wide:
                assert group.name == "acme-boot-1-sg" and rule["fromPort"] == 60606
            assert rule["fromPort"] != 22
        assert group.inputs["egress"][0]["protocol"] == "-1"


def test_instance_is_in_its_security_group_and_the_group_in_the_subnets_vpc(result: SynthResult) -> None:
    writer = one(result, "aws:ec2/instance:Instance", "acme-writer-1")
    assert writer.inputs["vpcSecurityGroupIds"] == ["acme-writer-1-sg-id"]
    assert writer.inputs["subnetId"] == "subnet-0123abcd" and "availabilityZone" not in writer.inputs
    group = one(result, "aws:ec2/securityGroup:SecurityGroup", "acme-writer-1-sg")
    assert group.inputs["vpcId"].startswith("vpc-0")
    assert "vpcId" not in one(result, "aws:ec2/securityGroup:SecurityGroup", "acme-boot-1-sg").inputs  # default VPC


# --- storage ----------------------------------------------------------------------------------------------------


def test_data_volume_is_encrypted_protected_retained_and_in_the_instances_zone(result: SynthResult) -> None:
    zones = {"validator-1": "sa-east-1a", "boot-1": "sa-east-1b", "writer-1": "sa-east-1a", "observer-1": "sa-east-1a"}
    sizes = {"validator-1": 200, "boot-1": 200, "writer-1": 300, "observer-1": 200}
    for node, zone in zones.items():
        volume = one(result, "aws:ebs/volume:Volume", f"acme-{node}-data")
        assert volume.protect and volume.retain_on_delete
        assert volume.inputs["encrypted"] is True and volume.inputs["type"] == "gp3"
        assert volume.inputs["size"] == sizes[node] and volume.inputs["availabilityZone"] == zone
        assert volume.inputs["finalSnapshot"] is True
        instance = one(result, "aws:ec2/instance:Instance", f"acme-{node}")
        assert instance.inputs.get("availabilityZone", zone) == zone
        attachment = one(result, "aws:ec2/volumeAttachment:VolumeAttachment", f"acme-{node}-data")
        assert attachment.inputs["volumeId"] == f"acme-{node}-data-id"
        assert attachment.inputs["instanceId"] == f"acme-{node}-id"
        assert attachment.inputs["stopInstanceBeforeDetaching"] is True
        assert attachment.inputs["deviceName"] == vm.AWS_DATA_ATTACHMENT


def test_cloud_init_mounts_the_volume_by_its_id(result: SynthResult) -> None:
    written = write_files_of(yaml.safe_load(user_data(result, "validator-1")))
    mount = written[f"{vm.SYSTEMD_DIR}/{vm.DATA_MOUNT_UNIT}"][1]
    # the volume id ("-id" under mocks, "vol-0..." in AWS) without its dashes: the NVMe serial udev links by
    assert "What=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_acmevalidator1dataid\n" in mount
    assert f"Where={layout.DATA_DIR}" in mount
    prepare = written[f"{vm.SYSTEMD_DIR}/{vm.PREPARE_DATA_UNIT}"][1]
    assert (
        f"ExecStart={vm.PREPARE_DATA} /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_acmevalidator1dataid" in prepare
    )


# --- compute ----------------------------------------------------------------------------------------------------


def test_instances_require_imdsv2_encrypt_the_root_and_replace_on_new_user_data(result: SynthResult) -> None:
    for name, instance in of_type(result, "aws:ec2/instance:Instance").items():
        options = instance.inputs["metadataOptions"]
        assert options["httpTokens"] == "required" and options["httpPutResponseHopLimit"] == 1
        assert options["httpEndpoint"] == "enabled"
        root = instance.inputs["rootBlockDevice"]
        assert root["encrypted"] is True and root["deleteOnTermination"] is True
        assert instance.inputs["userDataReplaceOnChange"] is True
        assert "userData" not in instance.inputs and "keyName" not in instance.inputs  # no SSH key pair
        assert instance.inputs["iamInstanceProfile"] == f"{name}-profile-id"
        assert instance.inputs["ami"].startswith("ami-0")


def test_default_ami_is_debians_ssm_parameter_and_kept_afterwards(result: SynthResult) -> None:
    instance = one(result, "aws:ec2/instance:Instance", "acme-boot-1")
    assert aws_backend.DEBIAN_12_AMI_PARAMETER == "/aws/service/debian/release/12/latest/amd64"
    from lacchain_cli.synth import INVOKE_RESULTS

    answer = INVOKE_RESULTS["aws:ssm/getParameter:getParameter"](
        {"name": aws_backend.DEBIAN_12_AMI_PARAMETER, "region": "sa-east-1"}
    )
    assert instance.inputs["ami"] == answer["value"]


def test_machine_image_overrides_the_default() -> None:
    document = aws_stack()
    document["nodes"] = [dict(document["nodes"][0], machineImage="ami-0aaaaaaaaaaaaaaaa")]
    document["nodeKeys"] = {"validator-1": KEYS["validator-1"].hex}
    instance = one(synth(document), "aws:ec2/instance:Instance", "acme-validator-1")
    assert instance.inputs["ami"] == "ami-0aaaaaaaaaaaaaaaa"


@pytest.mark.parametrize("node", ["validator-1", "boot-1", "writer-1", "observer-1"])
def test_user_data_is_valid_cloud_config_with_valid_units(result: SynthResult, node: str, tmp_path: Path) -> None:
    document = assert_valid_cloud_config(user_data(result, node), tmp_path)
    written = write_files_of(document)
    assert f"{layout.CONFIG_DIR}/config.toml" in written and f"{layout.CONFIG_DIR}/genesis.json" in written
    systemd_verify(written, tmp_path)


def test_eip_is_the_enode_host_and_associated(result: SynthResult) -> None:
    for node in ("validator-1", "boot-1", "writer-1"):
        association = one(result, "aws:ec2/eipAssociation:EipAssociation", f"acme-{node}-eip")
        assert association.inputs["allocationId"] == f"eipalloc-acme-{node}-eip"
        assert association.inputs["instanceId"] == f"acme-{node}-id"
        assert one(result, "aws:ec2/eip:Eip", f"acme-{node}-eip").inputs["domain"] == "vpc"
    assert "acme-observer-1-eip" not in of_type(result, "aws:ec2/eip:Eip")
    observer = one(result, "aws:ec2/instance:Instance", "acme-observer-1")
    assert observer.inputs["associatePublicIpAddress"] is True


# --- the node key -----------------------------------------------------------------------------------------------


def test_node_key_is_only_in_its_secret_version(result: SynthResult, tmp_path: Path) -> None:
    versions = of_type(result, "aws:secretsmanager/secretVersion:SecretVersion")
    assert set(versions) == {f"acme-{n}-node-key" for n in KEYS}
    for name, version in versions.items():
        assert version.inputs["secretString"] == SECRET  # a Pulumi secret: encrypted in state
        assert version.inputs["secretId"] == f"{name}-id"
    everything = json.dumps([r.as_json() for r in result.resources]) + json.dumps(result.outputs)
    for node in KEYS:
        everything += user_data(result, node)
    for key in KEYS.values():
        assert key.hex.removeprefix("0x") not in everything
    write_output(result, tmp_path, "acme")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert not any(key.hex.removeprefix("0x") in path.read_text() for key in KEYS.values()), path


def test_the_instance_fetches_its_own_secret_at_boot(result: SynthResult) -> None:
    written = write_files_of(yaml.safe_load(user_data(result, "writer-1")))
    fetch = written[vm.FETCH_NODE_KEY][1]
    arn = "arn:aws:secretsmanager:sa-east-1:123456789012:secret:lacchain/acme/writer-1/node-key-"
    assert f"secret='{arn}" in fetch and "region='sa-east-1'" in fetch
    assert f"out='{layout.NODE_KEY_FILE}'" in fetch
    env = written[f"{layout.CONFIG_DIR}/{vm.KEYAGENT_ENV}"][1]
    assert (
        "LACCHAIN_KEYAGENT_SECRET=arn:aws:secretsmanager:sa-east-1:123456789012:secret:lacchain/acme/writer-1/tm-keys-"
        in env
    )


def test_tm_keys_live_in_the_regions_vault_under_its_customer_managed_key(result: SynthResult) -> None:
    """No TM secret of the backend's own: the member's OrionKeyVault for sa-east-1 keeps it, encrypted with the
    vault's KMS key (rotation on), protected like the chain data, one per writer with a transaction manager."""
    secrets = of_type(result, "aws:secretsmanager/secret:Secret")
    assert set(secrets) == {f"acme-{n}-node-key" for n in KEYS} | {f"{VAULT}-writer-1"}
    vault = one(result, "lacchain:index:OrionKeyVault", VAULT)
    key = one(result, "aws:kms/key:Key", f"{VAULT}-kms")
    tm = secrets[f"{VAULT}-writer-1"]
    assert tm.parent == key.parent == vault.urn
    assert tm.inputs["name"] == "lacchain/acme/writer-1/tm-keys" and tm.inputs["region"] == "sa-east-1"
    assert tm.inputs["kmsKeyId"] == key_arn(result)
    assert key.inputs["enableKeyRotation"] is True and key.inputs["region"] == "sa-east-1"
    assert tm.protect and tm.retain_on_delete and key.protect and key.retain_on_delete
    assert not secrets["acme-writer-1-node-key"].protect
    for resource in (vault, key, tm):
        assert resource.provider is None or resource.provider.endswith("::aws-acme-sa-east-1")
    assert tm.provider is not None and key.provider is not None
    assert "aws:secretsmanager/secretVersion:SecretVersion" not in {
        r.type for r in result.resources if r.parent == vault.urn
    }


def key_arn(result: SynthResult) -> str:
    """The vault key's ARN, as the node's secret is encrypted with it: a KMS key of the node's region and account.
    The policy and the agent's settings are compared against it."""
    secret = one(result, "aws:secretsmanager/secret:Secret", f"{VAULT}-writer-1")
    arn = str(secret.inputs["kmsKeyId"])
    assert re.fullmatch(r"arn:aws:kms:sa-east-1:123456789012:key/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", arn), arn
    return arn


def test_the_user_data_carries_the_vaults_agent_settings_as_the_agent_reads_them(
    result: SynthResult, tmp_path: Path
) -> None:
    written = write_files_of(yaml.safe_load(user_data(result, "writer-1")))
    settings = tmp_path / vm.KEYAGENT_ENV
    settings.write_text(written[f"{layout.CONFIG_DIR}/{vm.KEYAGENT_ENV}"][1])
    config = parse_config(["--env-file", str(settings)], {})  # the agent's own reader of the file
    assert (config.backend, config.region) == ("aws", "sa-east-1")
    assert config.secret == result.outputs["nodes"]["writer-1"]["tm_key_secret"]
    assert config.secret.startswith(
        "arn:aws:secretsmanager:sa-east-1:123456789012:secret:lacchain/acme/writer-1/tm-keys-"
    )
    assert config.kms_key_id == key_arn(result) and config.kms_key_id.startswith("arn:aws:kms:sa-east-1:")
    assert "tm_key_secret" not in result.outputs["nodes"]["boot-1"]


# --- identity ---------------------------------------------------------------------------------------------------


def _findings(policy: str) -> list[tuple[str, str, str]]:
    analyzed = parliament.analyze_policy_string(policy)
    out = []
    for finding in analyzed.findings:
        parliament.enhance_finding(finding)
        out.append((finding.issue, finding.severity, str(finding.detail)))
    return out


def test_every_generated_policy_is_parliament_clean_and_scoped_to_the_nodes_own_secrets(result: SynthResult) -> None:
    policies = of_type(result, "aws:iam/rolePolicy:RolePolicy")
    assert set(policies) == {f"acme-{n}-{p}" for n in KEYS for p in ("node-key", "session-manager")} | {
        f"{VAULT}-writer-1-read"
    }
    for name, policy in policies.items():
        text = policy.inputs["policy"]
        assert [f for f in _findings(text) if f[1] not in ("LOW", "INFO")] == [], name
        assert [f for f in _findings(text) if f[0] in ("INVALID_ARN", "MALFORMED", "UNKNOWN_ACTION")] == [], name
        document = json.loads(text)
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if name.endswith("-node-key"):
                assert actions == ["secretsmanager:GetSecretValue"]
                own = name.removesuffix("-node-key").removeprefix("acme-")
                assert statement["Resource"].startswith(
                    f"arn:aws:secretsmanager:sa-east-1:123456789012:secret:lacchain/acme/{own}/node-key-"
                )
            elif name.endswith("-read"):
                # the vault's policy: the node's own TM secret (and its Tessera mirrors), the key only through it
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                if all(a.startswith("secretsmanager:") for a in actions):
                    assert all("lacchain/acme/writer-1/tm-keys" in r for r in resources)
                else:
                    assert sorted(actions) == ["kms:Decrypt", "kms:GenerateDataKey"]
                    assert resources == [key_arn(result)]
                    assert statement["Condition"]["StringEquals"] == {
                        "kms:ViaService": "secretsmanager.sa-east-1.amazonaws.com"
                    }
            else:
                assert sorted(actions) == sorted(aws_backend.SESSION_MANAGER_ACTIONS)
                assert statement["Resource"] == "*"  # these actions have no resource-level permissions
                assert all(a.startswith(("ssm:UpdateInstanceInformation", "ssmmessages:")) for a in actions)
        owner = name.removesuffix("-node-key").removesuffix("-session-manager")
        owner = "acme-writer-1" if name == f"{VAULT}-writer-1-read" else owner
        assert policy.inputs["role"] == f"{owner}-role-id"


def test_roles_trust_only_ec2_and_carry_no_managed_policy(result: SynthResult) -> None:
    for role in of_type(result, "aws:iam/role:Role").values():
        trust = json.loads(role.inputs["assumeRolePolicy"])
        assert trust["Statement"] == [
            {
                "Sid": "Ec2AssumesNodeRole",
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
        assert not role.inputs.get("managedPolicyArns")
    assert not of_type(result, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert not of_type(result, "aws:iam/policy:Policy")


def test_instances_wait_for_their_permissions(result: SynthResult) -> None:
    profile = one(result, "aws:iam/instanceProfile:InstanceProfile", "acme-writer-1-profile")
    assert profile.inputs["role"] == "acme-writer-1-role-id"  # a role's id is its name
    instance = one(result, "aws:ec2/instance:Instance", "acme-writer-1")
    for policy in ("acme-writer-1-node-key", "acme-writer-1-session-manager", f"{VAULT}-writer-1-read"):
        assert any(d.endswith(f"::{policy}") and "rolePolicy" in d for d in instance.depends_on), policy


def test_one_provider_per_region_under_the_member(result: SynthResult) -> None:
    providers = [r for r in result.resources if r.type == "pulumi:providers:aws"]
    assert [p.name for p in providers] == ["aws-acme-sa-east-1"]
    assert providers[0].inputs["region"] == "sa-east-1"
    assert providers[0].parent is not None and providers[0].parent.endswith("::acme")
    for resource in result.resources:
        if resource.type.startswith("aws:"):  # the vault's KMS key, secret and grant included
            assert resource.provider is not None and resource.provider.endswith("::aws-acme-sa-east-1"), resource.name


# --- outputs ----------------------------------------------------------------------------------------------------


def test_outputs_have_enodes_and_rpc_endpoints(result: SynthResult) -> None:
    nodes = result.outputs["nodes"]
    boot_ip = _eip_output(result, "boot-1")
    assert nodes["boot-1"]["enode"] == f"enode://{KEYS['boot-1'].node_id}@{boot_ip}:60606"
    assert nodes["boot-1"]["rpc_endpoint"] == f"https://{boot_ip}"
    assert nodes["validator-1"]["rpc_endpoint"] is None
    assert nodes["observer-1"]["enode"].endswith("@observer.acme.example.org:30303")
    assert nodes["observer-1"]["rpc_endpoint"] == "https://observer.acme.example.org"
    assert nodes["writer-1"]["platform"] == "aws"


# --- the repository's stacks ------------------------------------------------------------------------------------


def _project(tmp_path: Path, stack: str) -> tuple[Path, Path]:
    """A project dir like a member's: the stack file, the network's genesis (generated here with the pro-testnet
    preset, since the published file is not in the repository) and one key per node."""
    project = tmp_path / stack
    (project / "stacks").mkdir(parents=True)
    shutil.copy(REPO / "stacks" / f"Pulumi.{stack}.yaml", project / "stacks")
    genesis = project / "networks" / "lacchain-pro-testnet" / "genesis.json"
    genesis.parent.mkdir(parents=True)
    pro = preset("lacchain-pro-testnet")
    assert pro.chain_id is not None
    genesis.write_text(render_genesis(build_genesis(pro, GenesisSpec(pro.chain_id, (NodeKey.generate().address,)))))
    keys = project / "keys"
    document = yaml.safe_load((project / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    for node in document["lacchain-cloud:nodes"]:
        NodeKey.generate().write(keys / node["name"])
    return project, keys


@pytest.mark.parametrize("stack", ["aws-member", "gcp-member", "mixed-member"])
def test_repository_stacks_synth_with_boot_files_and_iam(stack: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lacchain_cli.main import app

    project, keys = _project(tmp_path, stack)
    out = tmp_path / "out"
    cli = CliRunner().invoke(
        app,
        ["synth", "--stack", stack, "--project-dir", str(project), "--node-keys", str(keys), "--out", str(out)],
    )
    assert cli.exit_code == 0, cli.output
    document = yaml.safe_load((project / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    for node in document["lacchain-cloud:nodes"]:
        folder = out / "nodes" / node["name"]
        if node["platform"] == "aws":
            assert_valid_cloud_config((folder / "cloud-init.yaml").read_text(), tmp_path)
            assert sorted(p.name for p in (folder / "iam").glob("*.json"))
        elif node["platform"] == "gcp":
            script = (folder / "startup-script.sh").read_text()
            assert script.startswith("#!/bin/bash\n") and cloud_init.startup_script_files(script)
            assert sorted(p.name for p in (folder / "iam").glob("*.json"))
        else:
            assert (folder / "kubernetes.yaml").exists()
        if node["platform"] != "kubernetes":
            assert (folder / "config.toml").exists()  # what the boot data writes to /etc/lacchain
        for key_file in keys.glob("*/key"):
            secret = key_file.read_text().removeprefix("0x")
            assert all(secret not in p.read_text() for p in folder.rglob("*") if p.is_file())
