"""LacchainNode on Kubernetes: any cluster reachable through a kubeconfig context (on-prem, EKS, GKE, AKS, kind).

The objects are rendered by ``lacchain.kubernetes`` (pure, schema-validated in tests); this module only registers
them with Pulumi, adding what only Pulumi can express: the data volume is ``protect``-ed and kept on delete, the
node key Secret is a Pulumi secret, and the pod template carries a checksum of the rendered files so that a
config change rolls the pod.

A writer with a transaction manager also gets its ServiceAccount, then (through ``ctx.tm_keys``) the member's
OrionKeyVault grants that account its one TM key Secret; the key agent's settings (the vault's ``agent_env``) go
into the node's own config ConfigMap (one object per node, and one checksum that rolls the pod when either the
files or the settings change). The StatefulSet waits for all of them. A node whose RPC certificate
comes from cert-manager gets its ``Certificate`` here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar, cast

import pulumi
import pulumi_kubernetes as k8s
from pydantic.alias_generators import to_snake

from components.backends.base import NodeContext, NodeDeployment, NodeInputs, lift
from lacchain import kubernetes as manifests
from lacchain.network_plan import GENESIS_JSON
from lacchain.sizing import size_class
from lacchain.stack_config import P2pExposure

K8S_PROVIDER_PREFIX = "k8s"
T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")


def node_objects(ctx: NodeContext) -> manifests.NodeObjects:
    """The static facts of a node's manifests (files are added in ``deploy``)."""
    node = ctx.node
    namespace = node.placement.namespace
    assert namespace is not None  # the stack schema requires it on Kubernetes
    tls = ctx.rpc_tls
    tm_keys_secret = None
    if ctx.tm_keys is not None:
        from components.orion_key_vault import kubernetes_secret_name

        keys = ctx.tm_keys.keys
        if keys.known_agent_env is not None and "LACCHAIN_KEYAGENT_MOUNT_DIR" in keys.known_agent_env:
            tm_keys_secret = kubernetes_secret_name(ctx.member, node.name)  # kept as a Kubernetes Secret
    return manifests.NodeObjects(
        member=ctx.member,
        name=node.name,
        namespace=namespace,
        role=node.role,
        transaction_manager=node.transaction_manager,
        size=size_class(node.size),
        disk_gb=node.disk_gb,
        images=ctx.images,
        storage_class=node.placement.storage_class,
        p2p_port=node.p2p_port,
        p2p_service_type="LoadBalancer" if node.p2p_exposure is P2pExposure.LOAD_BALANCER else "NodePort",
        dns_name=node.dns_name,
        ethstats_url=ctx.network.ethstats_url,
        rpc_tls=manifests.RpcTlsSource.SECRET if tls is not None else manifests.RpcTlsSource.SELF_SIGNED,
        rpc_tls_issuer=tls.issuer if tls is not None else None,
        rpc_tls_dns_names=tuple(tls.dns_names) if tls is not None else (),
        tm_keys_secret=tm_keys_secret,
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
    if kind not in classes:
        # A custom resource (cert-manager's Certificate): the generic class takes apiVersion and kind as arguments.
        document = {**manifest, **override}
        return k8s.apiextensions.CustomResource(
            name,
            api_version=document["apiVersion"],
            kind=document["kind"],
            metadata=document["metadata"],
            spec=document["spec"],
            opts=opts,
        )
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
        settings = self._keyagent_settings(ctx)
        config = _register(
            "ConfigMap",
            f"{name}-config",
            manifests.configmap(static, {}),
            ctx.opts(parent),
            data=_combine(files, settings, lambda f, env: manifests.configmap(static, f, env)["data"]),
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
            if static.rpc_tls_issuer is not None:
                _register("Certificate", f"{name}-rpc-tls", manifests.rpc_certificate(static), ctx.opts(parent))
        if static.has_tm:
            depends += self._key_agent(ctx, static, parent)
        # The pod spec is static; only its config checksum waits for the rendered files. The pod rolls when its
        # own files or the genesis change; allowlist changes are applied live (the DDNS daemon calls
        # perm_addNodesToAllowlist) rather than restarting every node of the member.
        statefulset = manifests.statefulset(static)
        annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
        annotations[manifests.CHECKSUM_ANNOTATION] = _combine(
            inputs.plan,
            settings,
            lambda p, env: manifests.checksum(
                {**p[ctx.node.name].files, GENESIS_JSON: p.shared.get(GENESIS_JSON, ""), **(env or {})}
            ),
        )
        _register("StatefulSet", name, statefulset, ctx.opts(parent, depends_on=depends))
        extra = {"tm_key_secret": ctx.tm_keys.keys.secret_ref} if ctx.tm_keys is not None else {}
        return NodeDeployment(rpc_endpoint=rpc_endpoint, extra_outputs=extra)

    @staticmethod
    def _keyagent_settings(ctx: NodeContext) -> pulumi.Input[dict[str, str] | None]:
        """The vault's ``agent_env`` for the node (None without a transaction manager): plain when the vault knows
        it up front (names only, on kubernetes), so large members build no Output for it."""
        if ctx.tm_keys is None:
            return None
        keys = ctx.tm_keys.keys
        return dict(keys.known_agent_env) if keys.known_agent_env is not None else keys.agent_env

    @staticmethod
    def _key_agent(ctx: NodeContext, static: manifests.NodeObjects, parent: pulumi.Resource) -> list[pulumi.Resource]:
        """The writer's identity and its grant on its own TM key Secret: what the pod's init container needs
        before it can run (its settings are in the node's config ConfigMap)."""
        from components.orion_key_vault import KubernetesReader

        if ctx.tm_keys is None:
            raise ValueError(f"{ctx.resource_name} runs a transaction manager but the member gave it no key vault")
        account = _register("ServiceAccount", ctx.resource_name, manifests.service_account(static), ctx.opts(parent))
        grants = ctx.tm_keys.grant(KubernetesReader(static.namespace, manifests.service_account_name(static)))
        return [account, *grants]


def _combine(first: pulumi.Input[T], second: pulumi.Input[U], fn: Callable[[T, U], V]) -> pulumi.Input[V]:
    """``fn(first, second)`` now when both are plain values (``lift`` for two inputs), else as an Output."""
    if isinstance(first, pulumi.Output) or isinstance(second, pulumi.Output):
        return pulumi.Output.all(first, second).apply(lambda both: fn(both[0], both[1]))
    return fn(first, second)  # type: ignore[arg-type]


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
