"""The member program on Kubernetes under Pulumi's mocks: what the engine would receive for every role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pytest
import yaml

from lacchain import nginx
from lacchain.keys import NodeKey
from lacchain.tm import paths as tm_paths
from lacchain_cli.synth import SECRET, write_output
from services.keyagent.cli import parse_config
from tests.components.cert_manager import validate_certificate
from tests.components.harness import by_type, named, synth
from tests.services.keyagent.test_keyagent_wiring import pod_file, with_scratch_paths
from tests.unit.stack_documents import valid

K8S_VERSION = "1.33"
STS = "kubernetes:apps/v1:StatefulSet"
SVC = "kubernetes:core/v1:Service"
CM = "kubernetes:core/v1:ConfigMap"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
VAULT = "lacchain:index:OrionKeyVault"


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
    # the key agent first, then the self-signed RPC certificate (no issuer in this stack)
    assert [c["name"] for c in pod["initContainers"]] == ["keyagent", "rpc-tls"]
    assert pod["serviceAccountName"] == "acme-writer-1"
    named(result, "kubernetes:core/v1:ServiceAccount", "acme-writer-1")
    assert "tm" not in containers(result, "boot-1")


def test_one_key_vault_per_namespace_grants_each_pods_own_account_its_own_secret(result: Any, tmp_path: Path) -> None:
    (vault,) = by_type(result, VAULT)
    assert vault.name == "acme-tm-keys-current-acme"
    assert vault.parent is not None and vault.parent.endswith("::acme")
    provider = named(result, "pulumi:providers:kubernetes", "k8s-acme-current").urn
    for writer in ("writer-1", "writer-2"):
        statefulset = named(result, STS, f"acme-{writer}")
        pod = statefulset.inputs["spec"]["template"]["spec"]
        account = named(result, "kubernetes:core/v1:ServiceAccount", pod["serviceAccountName"])
        role = named(result, ROLE, f"{vault.name}-{writer}")
        binding = named(result, BINDING, f"{vault.name}-{writer}")
        settings = named(result, CM, f"acme-{writer}-config")  # the node's own ConfigMap holds the agent's settings
        for granted in (role, binding):
            assert granted.parent == vault.urn and granted.provider == provider
            assert granted.inputs["metadata"]["namespace"] == "acme"
        # the RoleBinding names exactly the account the pod runs as...
        assert binding.inputs["subjects"] == [
            {"kind": "ServiceAccount", "name": account.inputs["metadata"]["name"], "namespace": "acme"}
        ]
        assert binding.inputs["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role.inputs["metadata"]["name"],
        }
        # ...the Role gets exactly the Secret the agent is told to use and the pod mounts
        (agent,) = [c for c in pod["initContainers"] if c["name"] == "keyagent"]
        maps = {settings.inputs["metadata"]["name"]: settings.inputs["data"]}
        seen = {arg: pod_file(pod, agent, arg, maps) for arg in agent["args"] if arg.startswith("/etc/lacchain/")}
        config = parse_config(with_scratch_paths(agent["args"], seen, tmp_path), {})
        assert (config.backend, config.namespace) == ("kubernetes", "acme")
        assert role.inputs["rules"][1]["resourceNames"] == [config.secret] == [f"acme-{writer}-tm-keys"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["tm-keys-secret"]["secret"]["secretName"] == config.secret
        assert str(config.mount_dir) == tm_paths.KUBERNETES_SECRET_MOUNT
        # nothing secret in the settings; the pod starts only once identity, grant and settings exist
        assert all(value != SECRET and "PRIVATE" not in value for value in settings.inputs["data"].values())
        assert {account.urn, role.urn, binding.urn, settings.urn} <= set(statefulset.depends_on)
    assert not [r for r in by_type(result, ROLE) if "boot" in r.name or "validator" in r.name]
    assert tm_paths.KEYAGENT_SETTINGS not in named(result, CM, "acme-boot-1-config").inputs["data"]


def test_outputs_name_each_tm_writers_key_secret_and_nothing_secret(result: Any) -> None:
    nodes = result.outputs["nodes"]
    assert nodes["writer-1"]["tm_key_secret"] == "acme-writer-1-tm-keys"
    assert nodes["writer-2"]["tm_key_secret"] == "acme-writer-2-tm-keys"
    assert "tm_key_secret" not in nodes["boot-1"] and "tm_key_secret" not in nodes["validator-1"]


def test_nginx_listens_unprivileged_with_the_plans_config_and_a_memory_certificate(result: Any) -> None:
    for node in ("boot-1", "writer-1", "observer-1"):
        config = named(result, CM, f"acme-{node}-config").inputs["data"]
        assert f"listen {nginx.UNPRIVILEGED_HTTPS_PORT} ssl;" in config["nginx.conf"]
        assert f"ssl_certificate {nginx.TLS_CERT_FILE};" in config["nginx.conf"]
        pod = named(result, STS, f"acme-{node}").inputs["spec"]["template"]["spec"]
        (port,) = containers(result, node)["nginx"]["ports"]
        assert port == {"name": "https", "containerPort": nginx.UNPRIVILEGED_HTTPS_PORT, "protocol": "TCP"}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["rpc-tls"]["emptyDir"]["medium"] == "Memory"
        (tls,) = [c for c in pod["initContainers"] if c["name"] == "rpc-tls"]
        assert tls["args"][:3] == ["rpc-tls", "--out", nginx.TLS_DIR]
        assert f"acme-{node}-rpc.acme.svc.cluster.local" in tls["args"]  # the host of the rpc_endpoint output
    assert "nginx.conf" not in named(result, CM, "acme-validator-1-config").inputs["data"]
    assert not by_type(result, CERTIFICATE)  # no issuer configured


def test_a_cert_manager_issuer_gives_rpc_nodes_a_certificate_and_nginx_its_secret(tmp_path: Path) -> None:
    document = valid()
    document["network"]["rpcTls"] = {"issuer": "lacchain-ca"}
    document["nodes"][2]["rpcTls"] = {"issuer": "letsencrypt", "dnsNames": ["rpc.acme.example.org"]}  # boot-1
    result = synth(document, tmp_path)

    certificates = {c.name: c for c in by_type(result, CERTIFICATE)}
    assert set(certificates) == {f"acme-{n}-rpc-tls" for n in ("boot-1", "writer-1", "writer-2", "observer-1")}
    for name, certificate in certificates.items():
        manifest = certificate.inputs
        validate_certificate(manifest)
        node = name.removeprefix("acme-").removesuffix("-rpc-tls")
        assert certificate.parent is not None and certificate.parent.endswith(f"::acme-{node}")
        pod = named(result, STS, f"acme-{node}").inputs["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        # not optional: the pod waits for cert-manager instead of starting an nginx without a certificate
        assert volumes["rpc-tls"]["secret"] == {"secretName": manifest["spec"]["secretName"], "defaultMode": 0o440}
        assert "rpc-tls" not in [c["name"] for c in pod.get("initContainers", [])]
    boot = certificates["acme-boot-1-rpc-tls"].inputs["spec"]
    assert boot["issuerRef"] == {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert boot["dnsNames"] == ["rpc.acme.example.org"]
    writer = certificates["acme-writer-1-rpc-tls"].inputs["spec"]
    assert writer["issuerRef"]["name"] == "lacchain-ca"
    assert writer["dnsNames"][0] == "acme-writer-1-rpc.acme.svc.cluster.local"
    # what synth writes (and the provider would apply): Certificates by cert-manager's schema, the rest by Kubernetes'
    write_output(result, tmp_path / "out", "acme")
    documents = [
        d for f in sorted((tmp_path / "out").rglob("kubernetes.yaml")) for d in yaml.safe_load_all(f.read_text())
    ]
    assert sum(d["kind"] == "Certificate" for d in documents) == 4
    for document in documents:
        if document["kind"] == "Certificate":
            validate_certificate(document)
        else:
            kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_the_certificate_check_can_fail() -> None:
    """The schema check above refuses what cert-manager would refuse or silently prune."""
    import jsonschema

    good = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "a", "namespace": "b"},
        "spec": {"secretName": "a", "issuerRef": {"name": "ca"}, "dnsNames": ["a.example"]},
    }
    validate_certificate(good)
    for spec in (
        {"secretName": "a", "issuerRef": {"name": "ca"}, "dnsName": ["a.example"]},  # misspelt
        {"secretName": "a", "issuerRef": {"name": "ca"}, "dnsNames": ["a"], "usages": ["server-auth"]},
        {"secretName": "a", "dnsNames": ["a"]},
        {"secretName": "a", "issuerRef": {"name": "ca"}, "dnsNames": ["a"], "privateKey": {"algorithm": "ecdsa"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate_certificate({**good, "spec": spec})
    for spec in (
        {"secretName": "a", "issuerRef": {"name": "ca"}, "dnsNames": ["a"], "duration": "30m"},
        {"secretName": "a", "issuerRef": {"name": "ca"}, "dnsNames": ["a"], "renewBefore": "90d"},
        {
            "secretName": "a",
            "issuerRef": {"name": "ca"},
            "dnsNames": ["a"],
            "privateKey": {"algorithm": "ECDSA", "size": 2048},
        },
    ):
        with pytest.raises(AssertionError):
            validate_certificate({**good, "spec": spec})


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


def test_vaults_are_built_before_any_node_with_their_writers_listed_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The member program's order: each vault first (its agent settings go into the nodes' files), its writers
    listed without readers, and every grant only from the backend that created the identity."""
    from components import lacchain_node, orion_key_vault

    calls: list[tuple[str, Any]] = []
    vault_init, node_init, grant = (
        orion_key_vault.OrionKeyVault.__init__,
        lacchain_node.LacchainNode.__init__,
        orion_key_vault.OrionKeyVault.grant,
    )

    def record_vault(self: Any, name: str, args: Any, opts: Any = None) -> None:
        calls.append(("vault", [(n.name, n.reader) for n in args.nodes]))
        vault_init(self, name, args, opts)

    def record_node(self: Any, name: str, args: Any, opts: Any = None) -> None:
        calls.append(("node", name))
        node_init(self, name, args, opts)

    def record_grant(self: Any, node: str, reader: Any) -> Any:
        calls.append(("grant", (node, reader)))
        return grant(self, node, reader)

    monkeypatch.setattr(orion_key_vault.OrionKeyVault, "__init__", record_vault)
    monkeypatch.setattr(lacchain_node.LacchainNode, "__init__", record_node)
    monkeypatch.setattr(orion_key_vault.OrionKeyVault, "grant", record_grant)
    synth(valid(), tmp_path)

    kinds = [kind for kind, _ in calls]
    assert kinds.index("vault") < kinds.index("node")
    assert calls[kinds.index("vault")][1] == [("writer-1", None), ("writer-2", None)]
    grants = [value for kind, value in calls if kind == "grant"]
    assert grants == [
        ("writer-1", orion_key_vault.KubernetesReader("acme", "acme-writer-1")),
        ("writer-2", orion_key_vault.KubernetesReader("acme", "acme-writer-2")),
    ]
    assert kinds.index("grant") > max(i for i, kind in enumerate(kinds) if kind == "node")  # in phase two


def test_a_change_of_the_agents_settings_rolls_the_writers_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings live in the config ConfigMap, so they count in the checksum that rolls the pod."""
    from components import orion_key_vault

    def checksum(result: Any, node: str) -> str:
        template = named(result, STS, f"acme-{node}").inputs["spec"]["template"]
        return str(template["metadata"]["annotations"]["lacchain.io/config-checksum"])

    first = synth(valid(), tmp_path)
    monkeypatch.setattr(orion_key_vault, "KUBERNETES_SECRET_MOUNT", "/var/run/lacchain/elsewhere")
    second = synth(valid(), tmp_path)
    assert checksum(first, "writer-1") != checksum(second, "writer-1")
    assert checksum(first, "boot-1") == checksum(second, "boot-1")


def test_every_namespaced_object_waits_for_the_namespace_this_stack_creates(result: Any) -> None:
    (namespace,) = by_type(result, "kubernetes:core/v1:Namespace")
    namespaced = [
        r
        for r in result.resources
        if r.type.startswith("kubernetes:") and r.custom and r.inputs.get("metadata", {}).get("namespace") == "acme"
    ]
    assert len(namespaced) > 30
    for resource in namespaced:
        assert namespace.urn in resource.depends_on, f"{resource.type} {resource.name} may race its namespace"


def test_besu_requests_and_limits_follow_the_role(result: Any) -> None:
    validator = containers(result, "validator-1")["besu"]["resources"]
    boot = containers(result, "boot-1")["besu"]["resources"]
    assert validator == {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}}
    assert boot == {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "4Gi"}}
    assert containers(result, "boot-1")["besu"]["env"] == [{"name": "BESU_OPTS", "value": "-Xmx2g"}]
