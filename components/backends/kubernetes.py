"""LacchainNode on Kubernetes: any cluster reachable through a kubeconfig context (on-prem, EKS, GKE, AKS, kind).

The objects are rendered by ``lacchain.kubernetes`` (pure, schema-validated in tests); this module only registers
them with Pulumi, adding what only Pulumi can express: the data volume is ``protect``-ed and kept on delete, the
node key Secret is a Pulumi secret, and the pod template carries a checksum of the rendered files so that a
config change rolls the pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
from pydantic.alias_generators import to_snake

from components.backends.base import NodeContext, NodeDeployment, NodeInputs, lift
from lacchain import kubernetes as manifests
from lacchain.network_plan import GENESIS_JSON
from lacchain.roles import TransactionManager
from lacchain.sizing import size_class
from lacchain.stack_config import P2pExposure

K8S_PROVIDER_PREFIX = "k8s"


def _images(ctx: NodeContext) -> manifests.Images:
    i = ctx.images
    return manifests.Images(
        besu=i.besu,
        tessera=i.tessera,
        orion=i.orion,
        nginx=i.nginx,
        healthcheck=i.healthcheck,
        ethstats=i.ethstats,
        keyagent=i.keyagent,
    )


def node_objects(ctx: NodeContext) -> manifests.NodeObjects:
    """The static facts of a node's manifests (files are added in ``deploy``)."""
    node = ctx.node
    namespace = node.placement.namespace
    assert namespace is not None  # the stack schema requires it on Kubernetes
    return manifests.NodeObjects(
        member=ctx.member,
        name=node.name,
        namespace=namespace,
        role=node.role,
        transaction_manager=node.transaction_manager,
        size=size_class(node.size),
        disk_gb=node.disk_gb,
        images=_images(ctx),
        storage_class=node.placement.storage_class,
        p2p_port=node.p2p_port,
        p2p_service_type="LoadBalancer" if node.p2p_exposure is P2pExposure.LOAD_BALANCER else "NodePort",
        dns_name=node.dns_name,
        ethstats_url=ctx.network.ethstats_url,
    )


def _register(kind: str, name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions, **override: Any) -> Any:
    """Register one rendered object under Pulumi, passing its fields through unchanged."""
    classes: dict[str, Any] = {
        "ConfigMap": k8s.core.v1.ConfigMap,
        "Secret": k8s.core.v1.Secret,
        "PersistentVolumeClaim": k8s.core.v1.PersistentVolumeClaim,
        "Service": k8s.core.v1.Service,
        "ServiceAccount": k8s.core.v1.ServiceAccount,
        "StatefulSet": k8s.apps.v1.StatefulSet,
        "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
        "PodDisruptionBudget": k8s.policy.v1.PodDisruptionBudget,
        "Namespace": k8s.core.v1.Namespace,
    }
    # Top-level fields are constructor arguments (snake_case); nested objects keep the API's camelCase keys,
    # which the SDK passes through unchanged.
    fields = {to_snake(k): v for k, v in {**manifest, **override}.items() if k not in ("apiVersion", "kind")}
    return classes[kind](name, opts=opts, **cast(Any, fields))


class KubernetesBackend:
    """The Kubernetes implementation of ``NodeBackend``."""

    def reserve_address(self, ctx: NodeContext, parent: pulumi.Resource) -> pulumi.Input[str]:
        n = node_objects(ctx)
        _register("Service", f"{ctx.resource_name}-p2p", manifests.p2p_service(n), ctx.opts(parent))
        return n.dns_name or manifests.p2p_host(n.member, n.name, n.namespace)

    def deploy(self, ctx: NodeContext, inputs: NodeInputs, parent: pulumi.Resource) -> NodeDeployment:
        static = replace(node_objects(ctx), file_keys=inputs.own_file_names, shared_keys=inputs.shared_file_names)
        files = inputs.own_files

        name = ctx.resource_name
        config = _register(
            "ConfigMap",
            f"{name}-config",
            manifests.configmap(static, {}),
            ctx.opts(parent),
            data=lift(files, lambda f: manifests.configmap(static, f)["data"]),
        )
        key = _register(
            "Secret",
            f"{name}-node-key",
            manifests.node_key_secret(static, ""),
            ctx.opts(parent),
            stringData=inputs.node_key.apply(lambda k: {"key": k}),
        )
        # Chain data outlives the pod, the StatefulSet and the stack: protected against `pulumi destroy` and kept
        # in the cluster if the resource is ever removed from the program.
        data = _register(
            "PersistentVolumeClaim",
            f"{name}-data",
            manifests.data_volume_claim(static),
            ctx.opts(parent, protect=True, retain_on_delete=True),
        )
        depends: list[pulumi.Resource] = [config, key, data]
        rpc_endpoint: pulumi.Output[str] | None = None
        if static.serves_rpc:
            _register("Service", f"{name}-rpc", manifests.rpc_service(static), ctx.opts(parent))
            rpc_endpoint = pulumi.Output.from_input(f"https://{name}-rpc.{static.namespace}.svc.cluster.local")
        if ctx.node.transaction_manager is not TransactionManager.NONE:
            depends.append(_register("ServiceAccount", name, manifests.service_account(static), ctx.opts(parent)))
        # The pod spec is static; only its config checksum waits for the rendered files. The pod rolls when its
        # own files or the genesis change; allowlist changes are applied live (the DDNS daemon calls
        # perm_addNodesToAllowlist) rather than restarting every node of the member.
        statefulset = manifests.statefulset(static)
        annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
        annotations[manifests.CHECKSUM_ANNOTATION] = lift(
            inputs.plan,
            lambda p: manifests.checksum({**p[ctx.node.name].files, GENESIS_JSON: p.shared.get(GENESIS_JSON, "")}),
        )
        _register("StatefulSet", name, statefulset, ctx.opts(parent, depends_on=depends))
        return NodeDeployment(rpc_endpoint=rpc_endpoint)


class KubernetesClusters:
    """Per-member Kubernetes resources shared by nodes: one provider per kubeconfig context, namespaces, and the
    per-role NetworkPolicies and PodDisruptionBudgets of each namespace."""

    def __init__(self, member: str, parent: pulumi.Resource) -> None:
        self._member = member
        self._parent = parent
        self._providers: dict[str, k8s.Provider] = {}
        self._namespaces: dict[tuple[str, str], pulumi.Resource | None] = {}

    def provider(self, context: str | None) -> k8s.Provider:
        """The provider for a kubeconfig context (``None``: the kubeconfig's current context)."""
        key = context or "current"
        if key not in self._providers:
            self._providers[key] = k8s.Provider(
                f"{K8S_PROVIDER_PREFIX}-{self._member}-{key}",
                context=context,
                enable_server_side_apply=True,
                opts=pulumi.ResourceOptions(parent=self._parent),
            )
        return self._providers[key]

    def namespace(self, context: str | None, name: str, create: bool) -> pulumi.Resource | None:
        """Create the namespace once (when asked to), and return it as a dependency for its objects."""
        key = (context or "current", name)
        if key not in self._namespaces:
            resource = None
            if create:
                resource = _register(
                    "Namespace",
                    f"{self._member}-ns-{key[0]}-{name}",
                    manifests.namespace(name),
                    pulumi.ResourceOptions(parent=self._parent, provider=self.provider(context)),
                )
            self._namespaces[key] = resource
        return self._namespaces[key]

    def shared_files(self, context: str | None, namespace: str, files: pulumi.Input[dict[str, str]]) -> None:
        """The member-wide files (genesis, allowlist) once per namespace, for every node there to mount."""
        ns = self._namespaces.get((context or "current", namespace))
        _register(
            "ConfigMap",
            f"{self._member}-{context or 'current'}-{namespace}-network",
            manifests.shared_configmap(self._member, namespace, {}),
            pulumi.ResourceOptions(
                parent=self._parent, provider=self.provider(context), depends_on=[ns] if ns is not None else []
            ),
            data=lift(files, lambda f: manifests.shared_configmap(self._member, namespace, f)["data"]),
        )

    def role_objects(self, context: str | None, policy: manifests.RolePolicy) -> None:
        """The NetworkPolicy and PodDisruptionBudget of one role in one namespace."""
        ns = self._namespaces.get((context or "current", policy.namespace))
        opts = pulumi.ResourceOptions(
            parent=self._parent, provider=self.provider(context), depends_on=[ns] if ns is not None else []
        )
        prefix = f"{self._member}-{context or 'current'}-{policy.namespace}-{policy.role.value}"
        _register("NetworkPolicy", f"{prefix}-netpol", manifests.network_policy(policy), opts)
        _register(
            "PodDisruptionBudget",
            f"{prefix}-pdb",
            manifests.disruption_budget(policy.member, policy.namespace, policy.role),
            opts,
        )
