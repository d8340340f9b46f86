"""``GcpBackend`` under Pulumi's mocks: what the Google provider would receive for every role.

The startup script (what Debian's Compute Engine images run; they have no cloud-init) is decoded back into the files
it writes, which must be exactly the cloud-config equivalent that ``cloud-init schema`` accepts, and whose systemd
units ``systemd-analyze verify`` accepts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.backends import gcp as gcp_backend
from components.member import member_program
from lacchain import cloud_init, layout, vm
from lacchain.keys import NodeKey
from lacchain_cli.synth import SECRET, RecordedResource, SynthResult, run_program, write_output
from services.keyagent.cli import parse_config
from tests.unit.test_cloud_init import assert_valid_cloud_config, systemd_verify

REPO = Path(__file__).resolve().parents[2]
NODE_ID = "cd" * 64
EXTERNAL_BOOT = f"enode://{NODE_ID}@203.0.113.9:60606"
KEYS = {
    name: NodeKey.derive_dev_key("gcp backend test", name)
    for name in ("validator-1", "boot-1", "writer-1", "observer-1")
}


def place(zone: str, **extra: str) -> dict[str, str]:
    return {"project": "acme-chain", "region": "southamerica-east1", "zone": f"southamerica-east1-{zone}", **extra}


def gcp_stack() -> dict[str, Any]:
    return {
        "member": "acme",
        "network": {"preset": "custom", "chainId": 1337, "bootnodes": [EXTERNAL_BOOT]},
        "nodeKeys": {name: key.hex for name, key in KEYS.items()},
        "nodes": [
            {"name": "validator-1", "role": "validator", "platform": "gcp", "placement": place("a")},
            {
                "name": "boot-1",
                "role": "boot",
                "platform": "gcp",
                "placement": place("b"),
                "rpcAllowedCidrs": ["10.0.0.0/8"],
            },
            {
                "name": "writer-1",
                "role": "writer",
                "platform": "gcp",
                "transactionManager": "tessera",
                "diskGb": 300,
                "size": "large",
                "placement": place("a", network="lacchain-vpc"),
                "rpcAllowedCidrs": ["203.0.113.0/24"],
            },
            {
                "name": "observer-1",
                "role": "observer",
                "platform": "gcp",
                "staticAddress": False,
                "dnsName": "observer.acme.example.org",
                "machineImage": "projects/acme-chain/global/images/family/lacchain-observer",
                "placement": place("c"),
            },
        ],
    }


VAULT = "acme-tm-keys-acme-chain-southamerica-east1"


@pytest.fixture(scope="module")
def result() -> SynthResult:
    if True:
        return run_program("test", gcp_stack(), lambda: member_program(REPO))


def of_type(result: SynthResult, resource_type: str) -> dict[str, RecordedResource]:
    return {r.name: r for r in result.resources if r.type == resource_type}


def one(result: SynthResult, resource_type: str, name: str) -> RecordedResource:
    return of_type(result, resource_type)[name]


def host(result: SynthResult, node: str) -> str:
    return str(result.outputs["nodes"][node]["enode"].split("@", 1)[1].rsplit(":", 1)[0])


def email(node: str) -> str:
    return f"lc-acme-{node}@acme-chain.iam.gserviceaccount.com"


def script(result: SynthResult, node: str) -> str:
    return str(one(result, "gcp:compute/instance:Instance", f"acme-{node}").inputs["metadataStartupScript"])


def firewall(result: SynthResult, node: str) -> dict[str, dict[str, Any]]:
    prefix = f"acme-{node}-"
    return {
        name.removeprefix(prefix): rule.inputs
        for name, rule in of_type(result, "gcp:compute/firewall:Firewall").items()
        if name.startswith(prefix)
    }


def allowed(rule: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a["protocol"], port) for a in rule.get("allows", []) for port in a.get("ports", [])}


# --- network ----------------------------------------------------------------------------------------------------


def test_firewall_rules_are_exactly_the_roles_ports(result: SynthResult) -> None:
    boot = f"{host(result, 'boot-1')}/32"
    external = "203.0.113.9/32"
    p2p = {("tcp", "60606"), ("udp", "60606")}
    rules = {node: firewall(result, node) for node in KEYS}
    assert {n: sorted(r) for n, r in rules.items()} == {
        "validator-1": ["allow-p2p", "deny-other"],
        "boot-1": ["allow-p2p", "allow-rpc", "deny-other"],
        "writer-1": ["allow-p2p", "allow-rpc", "allow-tm", "deny-other"],
        "observer-1": ["allow-p2p", "deny-other"],
    }
    assert allowed(rules["boot-1"]["allow-p2p"]) == p2p and rules["boot-1"]["allow-p2p"]["sourceRanges"] == [
        "0.0.0.0/0"
    ]
    assert allowed(rules["boot-1"]["allow-rpc"]) == {("tcp", "443")}
    assert rules["boot-1"]["allow-rpc"]["sourceRanges"] == ["10.0.0.0/8"]
    for node in ("validator-1", "writer-1", "observer-1"):
        assert allowed(rules[node]["allow-p2p"]) == p2p
        assert rules[node]["allow-p2p"]["sourceRanges"] == [boot, external]
    assert allowed(rules["writer-1"]["allow-tm"]) == {("tcp", "4040")}
    assert rules["writer-1"]["allow-tm"]["sourceRanges"] == [boot, external]
    assert rules["writer-1"]["allow-rpc"]["sourceRanges"] == ["203.0.113.0/24"]


def test_rules_target_the_nodes_own_account_and_deny_the_rest(result: SynthResult) -> None:
    for node in KEYS:
        for name, rule in firewall(result, node).items():
            assert rule["targetServiceAccounts"] == [email(node)] and "targetTags" not in rule
            assert rule["direction"] == "INGRESS"
            assert rule["sourceRanges"], "a rule without sources would mean anywhere"
            assert not rule.get("disabled")
            if name == "deny-other":
                assert rule["denies"] == [{"protocol": "all"}] and rule["sourceRanges"] == ["0.0.0.0/0"]
                assert rule["priority"] == gcp_backend.DENY_PRIORITY
            else:
                assert rule["priority"] == gcp_backend.ALLOW_PRIORITY < gcp_backend.DENY_PRIORITY < 65534
                assert "0.0.0.0/0" not in rule["sourceRanges"] or (node, name) == ("boot-1", "allow-p2p")
                assert ("tcp", "22") not in allowed(rule)
    assert firewall(result, "writer-1")["allow-p2p"]["network"] == "lacchain-vpc"
    assert firewall(result, "boot-1")["allow-p2p"]["network"] == "default"


def test_a_node_that_knows_no_peer_by_ip_gets_a_disabled_rule_not_an_open_one() -> None:
    document = gcp_stack()
    document["network"] = {"preset": "custom", "chainId": 1337}
    document["nodes"] = [document["nodes"][0]]
    document["nodeKeys"] = {"validator-1": KEYS["validator-1"].hex}
    rules = firewall(run_program("lonely", document, lambda: member_program(REPO)), "validator-1")
    assert rules["allow-p2p"]["disabled"] is True
    assert rules["allow-p2p"]["sourceRanges"] == [gcp_backend.NO_SOURCE]


# --- storage ----------------------------------------------------------------------------------------------------


def test_data_disk_is_protected_retained_attached_and_not_auto_deleted(result: SynthResult) -> None:
    for node, zone in {"validator-1": "a", "boot-1": "b", "writer-1": "a", "observer-1": "c"}.items():
        disk = one(result, "gcp:compute/disk:Disk", f"acme-{node}-data")
        assert disk.protect and disk.retain_on_delete
        assert disk.inputs["type"] == "pd-balanced" and disk.inputs["zone"] == f"southamerica-east1-{zone}"
        assert disk.inputs["size"] == (300 if node == "writer-1" else 200)
        assert disk.inputs["createSnapshotBeforeDestroy"] is True
        assert "diskEncryptionKey" not in disk.inputs  # Google-managed encryption, no raw key in state
        instance = one(result, "gcp:compute/instance:Instance", f"acme-{node}")
        assert instance.inputs["zone"] == disk.inputs["zone"]
        [attached] = instance.inputs["attachedDisks"]
        assert attached["source"].endswith(f"/zones/southamerica-east1-{zone}/disks/lacchain-acme-{node}-data")
        assert attached["deviceName"] == vm.GCE_DATA_DEVICE_NAME and attached["mode"] == "READ_WRITE"
        assert instance.inputs["bootDisk"]["autoDelete"] is True  # only the OS disk goes with the instance


# --- compute ----------------------------------------------------------------------------------------------------


def test_instances_are_shielded_oslogin_without_project_keys_or_serial_port(result: SynthResult) -> None:
    for node in KEYS:
        instance = one(result, "gcp:compute/instance:Instance", f"acme-{node}")
        assert instance.inputs["shieldedInstanceConfig"] == {
            "enableIntegrityMonitoring": True,
            "enableSecureBoot": True,
            "enableVtpm": True,
        }
        assert instance.inputs["metadata"] == {
            "block-project-ssh-keys": "TRUE",
            "enable-oslogin": "TRUE",
            "serial-port-enable": "FALSE",
        }
        assert instance.inputs["serviceAccount"] == {"email": email(node), "scopes": ["cloud-platform"]}
        image = instance.inputs["bootDisk"]["initializeParams"]["image"]
        expected = (
            "projects/acme-chain/global/images/family/lacchain-observer"
            if node == "observer-1"
            else "debian-cloud/debian-12"
        )
        assert image == expected
    writer = one(result, "gcp:compute/instance:Instance", "acme-writer-1")
    assert writer.inputs["machineType"] == "e2-standard-4"
    assert writer.inputs["networkInterfaces"] == [
        {"accessConfigs": [{"natIp": host(result, "writer-1"), "networkTier": "PREMIUM"}], "network": "lacchain-vpc"}
    ]
    observer = one(result, "gcp:compute/instance:Instance", "acme-observer-1")
    assert observer.inputs["networkInterfaces"][0]["accessConfigs"] == [{"networkTier": "PREMIUM"}]  # ephemeral


@pytest.mark.parametrize("node", ["validator-1", "boot-1", "writer-1", "observer-1"])
def test_startup_script_is_the_cloud_config_plan_and_its_units_verify(
    result: SynthResult, node: str, tmp_path: Path
) -> None:
    text = script(result, node)
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    files = cloud_init.startup_script_files(text)
    # The same plan as cloud-config (what an image with cloud-init would take) is valid for cloud-init.
    plan = vm.BootPlan(files=tuple(vm.BootFile(path, content, mode) for path, (mode, content) in files.items()))
    assert_valid_cloud_config(cloud_init.render_cloud_config(plan), tmp_path)
    assert f"{layout.CONFIG_DIR}/genesis.json" in files and f"{layout.CONFIG_DIR}/config.toml" in files
    mount = files[f"{vm.SYSTEMD_DIR}/{vm.DATA_MOUNT_UNIT}"][1]
    assert "What=/dev/disk/by-id/google-lacchain-data\n" in mount
    fetch = files[vm.FETCH_NODE_KEY][1]
    assert f"projects/acme-chain/secrets/lacchain-acme-{node}-node-key/versions/latest" in fetch
    systemd_verify(files, tmp_path)


# --- identity and the node key -------------------------------------------------------------------------------------


def test_node_key_is_only_in_its_secret_version(result: SynthResult, tmp_path: Path) -> None:
    versions = of_type(result, "gcp:secretmanager/secretVersion:SecretVersion")
    assert set(versions) == {f"acme-{n}-node-key" for n in KEYS}
    for name, version in versions.items():
        assert version.inputs["secretData"] == SECRET
        assert version.inputs["secret"] == f"{name}-id"
    write_output(result, tmp_path, "acme")
    everything = json.dumps([r.as_json() for r in result.resources]) + "".join(script(result, n) for n in KEYS)
    everything += "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    for key in KEYS.values():
        assert key.hex.removeprefix("0x") not in everything


def test_each_account_may_read_only_its_own_secrets(result: SynthResult) -> None:
    grants = of_type(result, "gcp:secretmanager/secretIamMember:SecretIamMember")
    expected = {f"acme-{n}-node-key-accessor" for n in KEYS} | {
        f"{VAULT}-writer-1-secretAccessor",
        f"{VAULT}-writer-1-secretVersionManager",
    }
    assert set(grants) == expected
    for name, grant in grants.items():
        node = "writer-1" if name.startswith(VAULT) else name.removeprefix("acme-").split("-node-key")[0]
        assert grant.inputs["member"] == f"serviceAccount:{email(node)}"
        if "-node-key-" in name:
            assert grant.inputs["role"] == gcp_backend.SECRET_ACCESSOR
            assert grant.inputs["secretId"] == f"lacchain-acme-{node}-node-key"
        else:
            # the vault's grant, on the writer's own TM secret: read it, and add its first version (key agent)
            assert grant.inputs["secretId"] == "lacchain-acme-writer-1-tm-keys"
            assert grant.inputs["role"] in (
                "roles/secretmanager.secretAccessor",
                "roles/secretmanager.secretVersionManager",
            )
    # no project-, folder- or account-level grant of any kind; the one key-level grant is the vault's CMEK grant
    # to Secret Manager's own service agent (it encrypts the TM secrets with the vault key)
    others = [
        r
        for r in result.resources
        if "iam" in r.type.lower()
        and r.type not in ("gcp:secretmanager/secretIamMember:SecretIamMember",)
        and not r.type.startswith("gcp:serviceaccount/account")
    ]
    assert [(r.type, r.inputs["role"], r.inputs["member"]) for r in others] == [
        (
            "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "serviceAccount:service-123456789012@gcp-sa-secretmanager.iam.gserviceaccount.com",
        )
    ]
    tm = one(result, "gcp:secretmanager/secret:Secret", f"{VAULT}-writer-1")
    assert tm.protect and tm.retain_on_delete


def test_tm_keys_live_in_the_vault_encrypted_with_its_regional_key(result: SynthResult) -> None:
    vault = one(result, "lacchain:index:OrionKeyVault", VAULT)
    assert vault.parent is not None and vault.parent.endswith("::acme")
    ring = one(result, "gcp:kms/keyRing:KeyRing", f"{VAULT}-ring")
    key = one(result, "gcp:kms/cryptoKey:CryptoKey", f"{VAULT}-key")
    tm = one(result, "gcp:secretmanager/secret:Secret", f"{VAULT}-writer-1")
    assert ring.inputs["location"] == "southamerica-east1" and ring.inputs["project"] == "acme-chain"
    assert key.inputs["keyRing"] == f"{VAULT}-ring-id"
    (replica,) = tm.inputs["replication"]["userManaged"]["replicas"]
    assert replica == {"location": "southamerica-east1", "customerManagedEncryption": {"kmsKeyName": f"{VAULT}-key-id"}}
    # Secret Manager's service agent may use the key (CMEK), nothing else gets a key-level role
    (cmek,) = of_type(result, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember").values()
    assert cmek.inputs["member"].endswith("@gcp-sa-secretmanager.iam.gserviceaccount.com")
    for resource in (ring, key, tm, cmek):
        assert resource.protect is (resource is not cmek)
        assert resource.provider is not None and resource.provider.endswith("::gcp-acme-acme-chain-southamerica-east1")
    # no TM secret of the backend's own any more
    assert set(of_type(result, "gcp:secretmanager/secret:Secret")) == {f"acme-{n}-node-key" for n in KEYS} | {tm.name}


def test_the_startup_script_carries_the_vaults_agent_settings(result: SynthResult, tmp_path: Path) -> None:
    files = cloud_init.startup_script_files(script(result, "writer-1"))
    settings = tmp_path / vm.KEYAGENT_ENV
    settings.write_text(files[f"{layout.CONFIG_DIR}/{vm.KEYAGENT_ENV}"][1])
    config = parse_config(["--env-file", str(settings)], {})  # the agent's own reader of the file
    assert (config.backend, config.secret) == ("gcp", "projects/acme-chain/secrets/lacchain-acme-writer-1-tm-keys")
    assert result.outputs["nodes"]["writer-1"]["tm_key_secret"] == config.secret


def test_instances_wait_for_their_grants(result: SynthResult) -> None:
    instance = one(result, "gcp:compute/instance:Instance", "acme-writer-1")
    grants = [d for d in instance.depends_on if "secretIamMember" in d]
    assert len(grants) == 3 and sum(f"::{VAULT}-writer-1-" in d for d in grants) == 2


def test_one_provider_per_project_and_region(result: SynthResult) -> None:
    providers = [r for r in result.resources if r.type == "pulumi:providers:gcp"]
    assert [(p.name, p.inputs["project"], p.inputs["region"]) for p in providers] == [
        ("gcp-acme-acme-chain-southamerica-east1", "acme-chain", "southamerica-east1")
    ]
    for resource in result.resources:
        if resource.type.startswith("gcp:"):
            assert resource.provider is not None and resource.provider.endswith(
                "::gcp-acme-acme-chain-southamerica-east1"
            )


def test_outputs_have_enodes_and_rpc_endpoints(result: SynthResult) -> None:
    nodes = result.outputs["nodes"]
    assert nodes["validator-1"]["rpc_endpoint"] is None
    assert nodes["writer-1"]["rpc_endpoint"] == f"https://{host(result, 'writer-1')}"
    assert nodes["writer-1"]["enode"] == f"enode://{KEYS['writer-1'].node_id}@{host(result, 'writer-1')}:60606"
    assert nodes["observer-1"]["rpc_endpoint"] == "https://observer.acme.example.org"
    address = one(result, "gcp:compute/address:Address", "acme-boot-1-ip")
    assert address.inputs["addressType"] == "EXTERNAL" and address.inputs["region"] == "southamerica-east1"
