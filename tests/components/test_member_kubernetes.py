"""The member program on Kubernetes under Pulumi's mocks: what the engine would receive for every role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pytest
import yaml

from lacchain.keys import NodeKey
from lacchain_cli.synth import SECRET, write_output
from tests.components.harness import by_type, named, synth
from tests.unit.stack_documents import valid

K8S_VERSION = "1.33"
STS = "kubernetes:apps/v1:StatefulSet"
SVC = "kubernetes:core/v1:Service"


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return synth(valid(), tmp_path_factory.mktemp("project"))


def containers(result: Any, node: str) -> dict[str, dict[str, Any]]:
    spec = named(result, STS, f"acme-{node}").inputs["spec"]["template"]["spec"]
    return {c["name"]: c for c in spec["containers"]}


def test_every_node_gets_its_statefulset_config_key_volume_and_p2p_service(result: Any) -> None:
    for node in ("validator-1", "validator-2", "boot-1", "writer-1", "writer-2", "observer-1"):
        named(result, STS, f"acme-{node}")
        named(result, "kubernetes:core/v1:ConfigMap", f"acme-{node}-config")
        named(result, "kubernetes:core/v1:Secret", f"acme-{node}-node-key")
        named(result, "kubernetes:core/v1:PersistentVolumeClaim", f"acme-{node}-data")
        named(result, SVC, f"acme-{node}-p2p")


def test_chain_data_is_protected_and_kept(result: Any) -> None:
    for claim in by_type(result, "kubernetes:core/v1:PersistentVolumeClaim"):
        assert claim.protect and claim.retain_on_delete, claim.name


def test_node_keys_reach_the_engine_only_as_secrets(result: Any) -> None:
    for secret in by_type(result, "kubernetes:core/v1:Secret"):
        assert secret.inputs["stringData"] == {"key": SECRET}
    dumped = json.dumps([r.as_json() for r in result.resources])
    for node in ("validator-1", "writer-1"):
        assert NodeKey.derive_dev_key("test seed", node).hex[2:] not in dumped


def test_validators_serve_no_rpc(result: Any) -> None:
    assert "nginx" not in containers(result, "validator-1")
    assert not [s for s in by_type(result, SVC) if s.name == "acme-validator-1-rpc"]
    assert "nginx" in containers(result, "boot-1")
    rpc = named(result, SVC, "acme-writer-1-rpc").inputs["spec"]
    assert rpc["type"] == "ClusterIP" and [p["port"] for p in rpc["ports"]] == [443]


def test_writers_with_a_transaction_manager_run_it_with_the_key_agent(result: Any) -> None:
    assert containers(result, "writer-1")["tm"]["image"].startswith("quorumengineering/tessera:")
    assert "orion" in containers(result, "writer-2")["tm"]["image"]
    pod = named(result, STS, "acme-writer-1").inputs["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["keyagent"]
    assert pod["serviceAccountName"] == "acme-writer-1"
    named(result, "kubernetes:core/v1:ServiceAccount", "acme-writer-1")
    assert "tm" not in containers(result, "boot-1")


def test_keys_are_on_memory_volumes_and_data_on_the_claim(result: Any) -> None:
    pod = named(result, STS, "acme-boot-1").inputs["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["keys"]["emptyDir"]["medium"] == "Memory"
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "acme-boot-1-data"
    assert volumes["node-key"]["secret"]["secretName"] == "acme-boot-1-node-key"


def test_p2p_ports_match_the_role(result: Any) -> None:
    ports = {(p["port"], p["protocol"]) for p in named(result, SVC, "acme-writer-1-p2p").inputs["spec"]["ports"]}
    assert ports == {(60606, "TCP"), (60606, "UDP"), (4040, "TCP")}
    ports = {(p["port"], p["protocol"]) for p in named(result, SVC, "acme-validator-1-p2p").inputs["spec"]["ports"]}
    assert ports == {(60606, "TCP"), (60606, "UDP")}


def test_network_policies_enforce_the_topology(result: Any) -> None:
    policies = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in by_type(result, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    validator = policies["acme-validator"]
    p2p_rule = validator["ingress"][0]
    allowed_roles = p2p_rule["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert allowed_roles == ["boot", "validator"]
    assert not any(p["port"] == 443 for rule in validator["ingress"] for p in rule["ports"])
    boot_sources = policies["acme-boot"]["ingress"][0]["from"]
    assert {"ipBlock": {"cidr": "0.0.0.0/0"}} in boot_sources
    assert not any(
        src.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
        for rule in policies["acme-writer"]["ingress"]
        if any(p["port"] == 443 for p in rule["ports"])
        for src in rule["from"]
    )


def test_validators_are_drained_one_at_a_time(result: Any) -> None:
    budgets = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in by_type(result, "kubernetes:policy/v1:PodDisruptionBudget")
    }
    assert budgets["acme-validator"]["maxUnavailable"] == 1
    assert budgets["acme-validator"]["selector"]["matchLabels"]["lacchain.io/role"] == "validator"


def test_outputs_give_every_nodes_enode(result: Any) -> None:
    nodes = result.outputs["nodes"]
    assert set(nodes) == {"validator-1", "validator-2", "boot-1", "writer-1", "writer-2", "observer-1"}
    expected = NodeKey.derive_dev_key("test seed", "boot-1").node_id
    assert nodes["boot-1"]["enode"].startswith(f"enode://{expected}@acme-boot-1-p2p.acme.svc.cluster.local:60606")
    assert nodes["validator-1"]["rpc_endpoint"] is None
    assert nodes["writer-1"]["rpc_endpoint"].startswith("https://")
    assert len(result.outputs["validators"]) == 2


def test_rendered_manifests_pass_the_kubernetes_schemas(result: Any, tmp_path: Path) -> None:
    write_output(result, tmp_path, "acme")
    documents = [d for f in sorted(tmp_path.rglob("kubernetes.yaml")) for d in yaml.safe_load_all(f.read_text())]
    assert len(documents) > 30
    for document in documents:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_a_config_change_rolls_the_pod(tmp_path: Path) -> None:
    first = synth(valid(), tmp_path)
    changed = valid()
    changed["network"]["bootnodes"] = ["enode://" + "cd" * 64 + "@203.0.113.9:60606"]
    second = synth(changed, tmp_path)

    def checksum(result: Any) -> str:
        template = named(result, STS, "acme-validator-1").inputs["spec"]["template"]
        return str(template["metadata"]["annotations"]["lacchain.io/config-checksum"])

    assert checksum(first) != checksum(second)


def test_bad_input_is_refused_before_any_resource(tmp_path: Path) -> None:
    document = valid()
    document["nodes"][0]["diskGb"] = 1
    with pytest.raises(pulumi.RunError, match="diskGb 1 is below"):
        synth(document, tmp_path)
    assert pulumi.runtime.settings.get_monitor().recorded == []
    document = valid()
    del document["devKeySeed"]
    with pytest.raises(pulumi.RunError, match="nodeKeys") as caught:
        synth(document, tmp_path)
    assert "pulumi config set --secret" in str(caught.value)
    assert pulumi.runtime.settings.get_monitor().recorded == []
