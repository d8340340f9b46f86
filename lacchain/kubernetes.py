"""Kubernetes objects of a LACChain node, as plain manifests (dicts in the Kubernetes API's own shape).

Pure rendering: the Pulumi backend registers exactly these objects, ``lacchain synth`` writes them out, and the
tests validate them against the real Kubernetes schemas, all without a cluster.

One node is one single-replica StatefulSet whose pod holds isolated containers (Besu; Orion or Tessera on
writers with a transaction manager; nginx as the only RPC entry on nodes that serve RPC; the healthcheck; the
ethstats client when the network has a dashboard). Chain data lives on a PersistentVolumeClaim created on its own
(not from a volumeClaimTemplate) so that Pulumi can protect it and keep it when the node is deleted. Secrets are
mounted on memory-backed volumes only.

NetworkPolicies and PodDisruptionBudgets are per role and namespace rather than per node: the LACChain topology is
a property of roles, and "drain validators one at a time" is a property of the validator set.

Every container of a pod runs as one uid (``NODE_UID``): the key agent writes the transaction manager's key files
mode 0600, and their readers (the transaction manager, and Besu for its privacy public key) must own them. nginx
listens on an unprivileged port (``lacchain.nginx.UNPRIVILEGED_HTTPS_PORT``) for the same reason it cannot bind 443:
no container keeps a capability. Its certificate comes from the node's ``<member>-<node>-rpc-tls`` Secret when a
cert-manager issuer is configured (``rpc_certificate``), otherwise from an init step that makes a self-signed pair
on a memory volume at every pod start (the key agent image's ``rpc-tls`` command).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lacchain import layout
from lacchain import nginx as rpc_proxy
from lacchain.roles import Role, TransactionManager
from lacchain.sizing import SizeClass
from lacchain.tm import paths as tm_paths
from lacchain.topology import accepts_p2p_from

PART_OF = "lacchain"
ROLE_LABEL = "lacchain.io/role"
MEMBER_LABEL = "lacchain.io/member"
NODE_LABEL = "lacchain.io/node"
CHECKSUM_ANNOTATION = "lacchain.io/config-checksum"
BESU_UID = 1000
"""The official Besu image runs as user ``besu`` (uid 1000); every container here runs unprivileged."""
NODE_UID = BESU_UID
"""The one uid every container of a node runs as (pod ``runAsUser``; ``--user`` on VMs). It must be one: the key
agent writes key files mode 0600 that Besu and the transaction manager read, and nginx reads its TLS key."""
KEYAGENT_ENV_NAME = re.compile(r"^LACCHAIN_KEYAGENT_[A-Z0-9_]+$")
CLUSTER_DOMAIN = "cluster.local"


class RpcTlsSource(StrEnum):
    """Where nginx's certificate comes from."""

    SECRET = "secret"
    """The node's ``<member>-<node>-rpc-tls`` Secret: issued by cert-manager (``rpc_tls_issuer``) on Kubernetes; on a
    VM the name maps to the host directory its boot script fills (``lacchain.vm``)."""
    SELF_SIGNED = "self-signed"
    """A pair the ``rpc-tls`` init container makes at pod start on a memory volume (no issuer configured)."""


@dataclass(frozen=True)
class Images:
    """Container images of a node's services: official upstream images where they exist (Besu pinned to the node's
    release), ours (``images/``) otherwise. The member's ``registry`` replaces ours with its own copies."""

    besu: str
    tessera: str = "quorumengineering/tessera:24.4.2"
    orion: str = "pegasyseng/orion:21.7.3"
    nginx: str = "nginx:1.30.6-alpine"
    ethstats: str = "ghcr.io/lacchain-cloud/ethstats-client:0.1.0"
    healthcheck: str = "ghcr.io/lacchain-cloud/healthcheck:0.1.0"
    keyagent: str = "ghcr.io/lacchain-cloud/keyagent:0.1.0"
    ddns: str = "ghcr.io/lacchain-cloud/ddns-daemon:0.1.0"


@dataclass(frozen=True)
class NodeObjects:
    """Facts the manifests of one node are rendered from."""

    member: str
    name: str
    namespace: str
    role: Role
    transaction_manager: TransactionManager
    size: SizeClass
    disk_gb: int
    images: Images
    storage_class: str | None = None
    p2p_port: int = layout.P2P_PORT
    p2p_service_type: str = "LoadBalancer"
    dns_name: str | None = None
    ethstats_url: str | None = None
    file_keys: Sequence[str] = ()
    """The node's own rendered files (relative paths under the config dir) its ConfigMap holds."""
    shared_keys: Sequence[str] = ()
    """The member-wide files (genesis, allowlist) in the namespace's shared ConfigMap."""
    config_checksum: str = ""
    """Hash of the rendered files: a changed config rolls the pod."""
    extra_annotations: Mapping[str, str] = field(default_factory=dict)
    rpc_tls: RpcTlsSource = RpcTlsSource.SECRET
    rpc_tls_issuer: str | None = None
    """A cert-manager ClusterIssuer: a ``Certificate`` is rendered for the node and nginx mounts its Secret."""
    rpc_tls_dns_names: Sequence[str] = ()
    """Names the RPC certificate carries; default ``rpc_dns_names`` (in-cluster Service names and ``dns_name``)."""
    tm_keys_secret: str | None = None
    """The node's TM key Secret when its keys are kept as Kubernetes Secrets (OrionKeyVault on kubernetes): mounted
    ``optional`` into the key agent at ``lacchain.tm.paths.KUBERNETES_SECRET_MOUNT``, so later boots need no API
    call. None when the keys live in a cloud or Vault."""

    def __post_init__(self) -> None:
        if self.rpc_tls_issuer is not None and self.rpc_tls is not RpcTlsSource.SECRET:
            raise ValueError("a cert-manager issuer delivers the certificate as the node's rpc-tls Secret")

    @property
    def object_name(self) -> str:
        return f"{self.member}-{self.name}"

    @property
    def serves_rpc(self) -> bool:
        return self.role is not Role.VALIDATOR

    @property
    def has_tm(self) -> bool:
        return self.transaction_manager is not TransactionManager.NONE


def labels(member: str, name: str, role: Role) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "lacchain-node",
        "app.kubernetes.io/instance": f"{member}-{name}",
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        MEMBER_LABEL: member,
        ROLE_LABEL: role.value,
        NODE_LABEL: name,
    }


def selector(member: str, name: str) -> dict[str, str]:
    return {MEMBER_LABEL: member, NODE_LABEL: name}


def p2p_host(member: str, name: str, namespace: str) -> str:
    """The in-cluster DNS name of a node's p2p Service: what other nodes in the cluster put in its enode."""
    return f"{member}-{name}-p2p.{namespace}.svc.cluster.local"


def configmap_key(path: str) -> str:
    """ConfigMap keys cannot contain "/": ``tm/tessera.json`` is stored as ``tm__tessera.json`` (reversible)."""
    return path.replace("/", "__")


def checksum(files: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(sorted(files.items()))).encode()).hexdigest()


def _meta(n: NodeObjects, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": n.namespace, "labels": labels(n.member, n.name, n.role), **extra}


def shared_configmap_name(member: str) -> str:
    return f"{member}-network"


def shared_configmap(member: str, namespace_name: str, files: Mapping[str, str]) -> dict[str, Any]:
    """Files every node of the member in this namespace reads (the genesis, the local allowlist): stored once."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": shared_configmap_name(member),
            "namespace": namespace_name,
            "labels": {"app.kubernetes.io/part-of": PART_OF, MEMBER_LABEL: member},
        },
        "data": {configmap_key(path): text for path, text in sorted(files.items())},
    }


def config_map_name(n: NodeObjects) -> str:
    return f"{n.object_name}-config"


def configmap(
    n: NodeObjects, files: Mapping[str, str], keyagent_env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The node's own files, projected into its config volume; on writers with a transaction manager also the key
    agent's settings file (``lacchain.tm.paths.KEYAGENT_SETTINGS``). One object, and one checksum for both."""
    if keyagent_env is not None:
        files = {**files, tm_paths.KEYAGENT_SETTINGS: keyagent_settings(keyagent_env)}
    data = {configmap_key(path): text for path, text in sorted(files.items())}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(n, config_map_name(n)), "data": data}


def node_key_secret(n: NodeObjects, node_key: str) -> dict[str, Any]:
    """The Besu node key. ``node_key`` is a Pulumi secret in the program; here it is just the value."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(n, f"{n.object_name}-node-key"),
        "stringData": {"key": node_key},
    }


def data_volume_claim(n: NodeObjects) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{n.disk_gb}Gi"}},
    }
    if n.storage_class:
        spec["storageClassName"] = n.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(n, f"{n.object_name}-data", annotations={"helm.sh/resource-policy": "keep"}),
        "spec": spec,
    }


def p2p_service(n: NodeObjects) -> dict[str, Any]:
    """Peers reach the node here: TCP for RLPx, UDP for discovery, and the transaction manager's TLS port.

    ``publishNotReadyAddresses``: a node only becomes ready once it has peers, so peers must be able to reach it
    before it is ready. ``externalTrafficPolicy: Local`` keeps client source addresses for the NetworkPolicy.
    """
    ports: list[dict[str, Any]] = [
        {"name": "p2p-tcp", "port": n.p2p_port, "targetPort": "p2p-tcp", "protocol": "TCP"},
        {"name": "p2p-udp", "port": n.p2p_port, "targetPort": "p2p-udp", "protocol": "UDP"},
    ]
    if n.has_tm:
        ports.append({"name": "tm-p2p", "port": layout.TESSERA_P2P_PORT, "targetPort": "tm-p2p", "protocol": "TCP"})
    annotations = {"external-dns.alpha.kubernetes.io/hostname": n.dns_name} if n.dns_name else {}
    spec: dict[str, Any] = {
        "type": n.p2p_service_type,
        "selector": selector(n.member, n.name),
        "ports": ports,
        "publishNotReadyAddresses": True,
    }
    if n.p2p_service_type in ("LoadBalancer", "NodePort"):
        spec["externalTrafficPolicy"] = "Local"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(n, f"{n.object_name}-p2p", annotations=annotations),
        "spec": spec,
    }


def rpc_service(n: NodeObjects) -> dict[str, Any]:
    """Cluster-internal RPC through nginx (TLS); publish it further with an Ingress or a gateway if needed."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(n, f"{n.object_name}-rpc"),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(n.member, n.name),
            "ports": [{"name": "https", "port": layout.NGINX_HTTPS_PORT, "targetPort": "https", "protocol": "TCP"}],
        },
    }


def service_account_name(n: NodeObjects) -> str:
    """The node's Kubernetes identity: the pod runs as it, and OrionKeyVault's RoleBinding names it."""
    return n.object_name


def keyagent_settings(env: Mapping[str, str]) -> str:
    """The key agent's settings file: OrionKeyVault ``agent_env`` as ``LACCHAIN_KEYAGENT_NAME=value`` lines, read
    by the agent's ``--env-file`` (the systemd ``EnvironmentFile`` syntax). References only (a secret's name or ARN,
    a region, a namespace, a KMS key): nothing here is secret. Only the agent's own one-line settings are written."""
    lines = []
    for name, value in sorted(env.items()):
        if not KEYAGENT_ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not a key agent setting (LACCHAIN_KEYAGENT_*)")
        if "\n" in value or "\r" in value or "\0" in value:
            raise ValueError(f"{name}: a key agent setting is one line")
        lines.append(f"{name}={value}\n")
    if not lines:
        raise ValueError("the key agent needs its settings (OrionKeyVault agent_env)")
    return (
        "# The key agent's settings (OrionKeyVault agent_env). Generated by lacchain-cloud; references only.\n"
        + "".join(lines)
    )


def rpc_tls_secret_name(n: NodeObjects) -> str:
    return f"{n.object_name}-rpc-tls"


def rpc_dns_names(n: NodeObjects) -> list[str]:
    """What the RPC certificate names: ``rpc_tls_dns_names`` when given (an ACME issuer can only certify public
    names), else every name the rpc Service answers to in the cluster, plus the node's public ``dns_name``."""
    if n.rpc_tls_dns_names:
        return list(dict.fromkeys(n.rpc_tls_dns_names))
    service = f"{n.object_name}-rpc"
    names = [
        f"{service}.{n.namespace}.svc.{CLUSTER_DOMAIN}",
        f"{service}.{n.namespace}.svc",
        f"{service}.{n.namespace}",
        service,
    ]
    return names + ([n.dns_name] if n.dns_name else [])


def rpc_certificate(n: NodeObjects) -> dict[str, Any]:
    """The cert-manager ``Certificate`` (``cert-manager.io/v1``) that keeps the node's rpc-tls Secret issued and
    renewed by ``rpc_tls_issuer`` (a ClusterIssuer). ECDSA P-256 like the self-signed fallback, a fresh key at every
    renewal, server authentication only."""
    if n.rpc_tls_issuer is None:
        raise ValueError(f"{n.object_name} has no cert-manager issuer")
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": _meta(n, rpc_tls_secret_name(n)),
        "spec": {
            "secretName": rpc_tls_secret_name(n),
            "issuerRef": {"name": n.rpc_tls_issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            "dnsNames": rpc_dns_names(n),
            "duration": "2160h",
            "renewBefore": "720h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"},
            "usages": ["digital signature", "server auth"],
            "secretTemplate": {"labels": labels(n.member, n.name, n.role)},
        },
    }


def service_account(n: NodeObjects) -> dict[str, Any]:
    """The node's own identity: the key agent authenticates with it (IRSA / workload identity / Vault auth)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(n, service_account_name(n)),
        "automountServiceAccountToken": True,
    }


_RESTRICTED: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def _container(name: str, image: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "securityContext": _RESTRICTED, **fields}


def _config_mount(sub: str = "") -> dict[str, Any]:
    return {"name": "config", "mountPath": layout.CONFIG_DIR + sub, "readOnly": True}


def _besu_container(n: NodeObjects) -> dict[str, Any]:
    ports = [
        {"name": "p2p-tcp", "containerPort": n.p2p_port, "protocol": "TCP"},
        {"name": "p2p-udp", "containerPort": n.p2p_port, "protocol": "UDP"},
        {"name": "rpc-http", "containerPort": layout.RPC_HTTP_PORT, "protocol": "TCP"},
        {"name": "metrics", "containerPort": layout.METRICS_PORT, "protocol": "TCP"},
    ]
    return _container(
        "besu",
        n.images.besu,
        args=[f"--config-file={layout.BESU_CONFIG_FILE}"],
        env=[{"name": "BESU_OPTS", "value": f"-Xmx{n.size.heap}"}],
        ports=ports,
        resources={
            "requests": {"cpu": n.size.cpu_request, "memory": n.size.memory_request},
            "limits": {"cpu": n.size.cpu_limit, "memory": n.size.memory_limit},
        },
        volumeMounts=[
            _config_mount(),
            {"name": "data", "mountPath": layout.BESU_DATA_PATH, "subPath": "besu"},
            {"name": "keys", "mountPath": layout.SECRETS_DIR, "readOnly": True},
            {"name": "node-key", "mountPath": layout.NODE_KEY_FILE, "subPath": "key", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        # Besu's own health endpoints. Startup can take long after an upgrade (database migration), so the
        # startup probe allows up to 30 minutes before liveness takes over.
        startupProbe={
            "httpGet": {"path": "/liveness", "port": "rpc-http"},
            "periodSeconds": 10,
            "failureThreshold": 180,
        },
        livenessProbe={
            "httpGet": {"path": "/liveness", "port": "rpc-http"},
            "periodSeconds": 15,
            "failureThreshold": 4,
        },
        readinessProbe={
            "httpGet": {"path": "/readiness?minPeers=1&maxBlocksBehind=10", "port": "rpc-http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
    )


def _tm_container(n: NodeObjects) -> dict[str, Any]:
    """Orion or Tessera, started from the key agent's runtime configuration (every key version listed), not from
    the rendered template: that is how a rotated key reaches it (``lacchain.tm.paths``)."""
    image = n.images.orion if n.transaction_manager is TransactionManager.ORION else n.images.tessera
    return _container(
        "tm",
        image,
        args=tm_paths.transaction_manager_args(n.transaction_manager),
        ports=[{"name": "tm-p2p", "containerPort": layout.TESSERA_P2P_PORT, "protocol": "TCP"}],
        resources={"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        volumeMounts=[
            _config_mount(),
            {"name": "data", "mountPath": layout.TM_DATA_PATH, "subPath": "tm"},
            {"name": "keys", "mountPath": layout.SECRETS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        readinessProbe={"tcpSocket": {"port": "tm-p2p"}, "periodSeconds": 10},
    )


def _nginx_container(n: NodeObjects) -> dict[str, Any]:
    """nginx with the node's rendered nginx.conf (``lacchain.network_plan``), which listens on
    ``UNPRIVILEGED_HTTPS_PORT``, reads its certificate from ``TLS_DIR`` and keeps pid and buffers in
    ``RUNTIME_DIR``: exactly the mounts below (a test reads the rendered file back against them)."""
    return _container(
        "nginx",
        n.images.nginx,
        ports=[{"name": "https", "containerPort": rpc_proxy.UNPRIVILEGED_HTTPS_PORT, "protocol": "TCP"}],
        resources={"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        volumeMounts=[
            {"name": "config", "mountPath": rpc_proxy.NGINX_CONFIG_FILE, "subPath": "nginx.conf", "readOnly": True},
            {"name": "rpc-tls", "mountPath": rpc_proxy.TLS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "nginx-run", "mountPath": rpc_proxy.RUNTIME_DIR},
        ],
        readinessProbe={"tcpSocket": {"port": "https"}, "periodSeconds": 10},
    )


def _healthcheck_container(n: NodeObjects) -> dict[str, Any]:
    env = [
        {"name": "HEALTHCHECK_ROLE", "value": n.role.value},
        {"name": "HEALTHCHECK_BESU_RPC_URL", "value": f"http://127.0.0.1:{layout.RPC_HTTP_PORT}"},
    ]
    if n.has_tm:
        env.append(
            {"name": "HEALTHCHECK_TM_UPCHECK_URL", "value": f"http://127.0.0.1:{layout.TESSERA_Q2T_PORT}/upcheck"}
        )
    return _container(
        "healthcheck",
        n.images.healthcheck,
        env=env,
        ports=[{"name": "health", "containerPort": layout.HEALTHCHECK_PORT, "protocol": "TCP"}],
        resources={"requests": {"cpu": "20m", "memory": "48Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
    )


def _ethstats_container(n: NodeObjects) -> dict[str, Any]:
    return _container(
        "ethstats",
        n.images.ethstats,
        env=[
            {"name": "ETHSTATS_URL", "value": n.ethstats_url},
            {"name": "ETHSTATS_NODE_NAME", "value": n.object_name},
            {"name": "ETHSTATS_RPC_URL", "value": f"http://127.0.0.1:{layout.RPC_HTTP_PORT}"},
            {
                "name": "ETHSTATS_SECRET",
                "valueFrom": {"secretKeyRef": {"name": "ethstats", "key": "secret", "optional": True}},
            },
        ],
        resources={"requests": {"cpu": "20m", "memory": "48Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
    )


_OWN_UID = {"runAsUser": NODE_UID, "runAsGroup": NODE_UID}
"""Stated on the containers that write files others read, so an image's own ``USER`` can never split the pod."""


def _keyagent_container(n: NodeObjects) -> dict[str, Any]:
    """Init container: fetches (or on first boot creates) the transaction manager's key pair from the member's key
    vault into the memory-backed keys volume, authenticating as the node's service account.

    Configured exactly as the agent's CLI reads it (``services.keyagent.cli``), with the same arguments as on a VM:
    its ``LACCHAIN_KEYAGENT_*`` settings (OrionKeyVault ``agent_env``) from the settings file the node's config
    ConfigMap projects into the config volume, and the rendered transaction manager configuration to complete into
    the runtime copy the ``tm`` container starts from."""
    mounts: list[dict[str, Any]] = [
        {"name": "keys", "mountPath": layout.SECRETS_DIR},
        _config_mount(),
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if n.tm_keys_secret is not None:
        mounts.append({"name": "tm-keys-secret", "mountPath": tm_paths.KUBERNETES_SECRET_MOUNT, "readOnly": True})
    return _container(
        "keyagent",
        n.images.keyagent,
        args=tm_paths.keyagent_args(n.transaction_manager),
        securityContext={**_RESTRICTED, **_OWN_UID},
        resources={"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        volumeMounts=mounts,
    )


def _rpc_tls_container(n: NodeObjects) -> dict[str, Any]:
    """Init container (no issuer configured): a self-signed ECDSA certificate for the node's RPC names on the memory
    volume nginx mounts, made by the key agent image's ``rpc-tls`` command. Clients see a new certificate at every
    pod start; configure ``rpcTls.issuer`` for one they can trust."""
    args = ["rpc-tls", "--out", rpc_proxy.TLS_DIR]
    for name in rpc_dns_names(n):
        args += ["--dns-name", name]
    return _container(
        "rpc-tls",
        n.images.keyagent,
        args=args,
        securityContext={**_RESTRICTED, **_OWN_UID},
        resources={"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
        volumeMounts=[{"name": "rpc-tls", "mountPath": rpc_proxy.TLS_DIR}],
    )


def _ddns_container(n: NodeObjects) -> dict[str, Any]:
    """The DDNS daemon (``services/ddns_daemon``): follows the node's public address, posts signed updates, and
    rewrites the peer files in the config directory, which it therefore mounts writable. Rendered only for nodes
    whose plan includes its configuration (VM nodes named in the network's DDNS zone)."""
    return _container(
        "ddns",
        n.images.ddns,
        args=["--config", f"{layout.CONFIG_DIR}/{layout.DDNS_DAEMON_CONFIG}", "run"],
        resources={"requests": {"cpu": "20m", "memory": "48Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        volumeMounts=[
            {"name": "config", "mountPath": layout.CONFIG_DIR},
            {"name": "keys", "mountPath": layout.SECRETS_DIR, "readOnly": True},
            {"name": "data", "mountPath": layout.DDNS_STATE_DIR, "subPath": "ddns"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    )


def statefulset(n: NodeObjects) -> dict[str, Any]:
    own_files = {*n.file_keys, *([tm_paths.KEYAGENT_SETTINGS] if n.has_tm else [])}
    own = [{"key": configmap_key(path), "path": path} for path in sorted(own_files)]
    shared = [{"key": configmap_key(path), "path": path} for path in sorted(n.shared_keys)]
    sources: list[dict[str, Any]] = [{"configMap": {"name": config_map_name(n), "items": own}}]
    if shared:
        sources.append({"configMap": {"name": shared_configmap_name(n.member), "items": shared}})
    volumes: list[dict[str, Any]] = [
        {"name": "config", "projected": {"sources": sources}},
        {"name": "data", "persistentVolumeClaim": {"claimName": f"{n.object_name}-data"}},
        {"name": "keys", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {"name": "node-key", "secret": {"secretName": f"{n.object_name}-node-key", "defaultMode": 0o400}},
        {"name": "tmp", "emptyDir": {}},
    ]
    containers = [_besu_container(n)]
    init_containers: list[dict[str, Any]] = []
    if n.has_tm:
        containers.append(_tm_container(n))
        init_containers.append(_keyagent_container(n))
        if n.tm_keys_secret is not None:
            # Empty on first boot (the agent then creates the Secret through the API), mounted on every later one.
            secret = {"secretName": n.tm_keys_secret, "optional": True, "defaultMode": 0o440}
            volumes.append({"name": "tm-keys-secret", "secret": secret})
    if n.serves_rpc:
        containers.append(_nginx_container(n))
        if n.rpc_tls is RpcTlsSource.SELF_SIGNED:
            init_containers.append(_rpc_tls_container(n))
            tls: dict[str, Any] = {"emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
        else:
            # Not optional: without the certificate nginx cannot start, so the pod waits for the Secret instead.
            tls = {"secret": {"secretName": rpc_tls_secret_name(n), "defaultMode": 0o440}}
        volumes += [{"name": "rpc-tls", **tls}, {"name": "nginx-run", "emptyDir": {}}]
    containers.append(_healthcheck_container(n))
    if n.ethstats_url:
        containers.append(_ethstats_container(n))
    if layout.DDNS_DAEMON_CONFIG in n.file_keys:
        containers.append(_ddns_container(n))
    pod_spec: dict[str, Any] = {
        "securityContext": {
            "runAsUser": BESU_UID,
            "runAsGroup": BESU_UID,
            "fsGroup": BESU_UID,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": n.has_tm,
        "terminationGracePeriodSeconds": 120,
        "containers": containers,
        "volumes": volumes,
    }
    if n.has_tm:
        pod_spec["serviceAccountName"] = service_account_name(n)
    if init_containers:
        pod_spec["initContainers"] = init_containers
    pod_labels = labels(n.member, n.name, n.role)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(n, n.object_name),
        "spec": {
            "replicas": 1,
            "serviceName": f"{n.object_name}-p2p",
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": selector(n.member, n.name)},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {CHECKSUM_ANNOTATION: n.config_checksum, **n.extra_annotations},
                },
                "spec": pod_spec,
            },
        },
    }


def node_manifests(
    n: NodeObjects, files: Mapping[str, str], node_key: str, keyagent_env: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """All objects of one node (for tests; the Pulumi backend registers them one by one). ``keyagent_env`` is the
    node's OrionKeyVault ``agent_env`` (writers with a transaction manager)."""
    if n.has_tm and keyagent_env is None:
        raise ValueError(f"{n.object_name} runs a transaction manager: give its key agent settings")
    objects = [configmap(n, files, keyagent_env), node_key_secret(n, node_key), data_volume_claim(n), p2p_service(n)]
    if n.serves_rpc:
        objects.append(rpc_service(n))
        if n.rpc_tls_issuer is not None:
            objects.append(rpc_certificate(n))
    if n.has_tm:
        objects.append(service_account(n))
    objects.append(statefulset(n))
    return objects


# --- per role and namespace ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RolePolicy:
    """Inputs of the NetworkPolicy of one role in one namespace."""

    member: str
    namespace: str
    role: Role
    p2p_port: int = layout.P2P_PORT
    external_p2p_cidrs: Sequence[str] = ()
    """Sources outside the cluster whose p2p connections this role accepts (other members' nodes)."""
    rpc_cidrs: Sequence[str] = ()
    has_tm: bool = False


def _ip_blocks(cidrs: Sequence[str]) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": c}} for c in sorted(set(cidrs))]


def network_policy(p: RolePolicy) -> dict[str, Any]:
    """Ingress rules of one role: p2p only from the roles it peers with (LACChain topology) and the configured
    external peers; RPC (nginx) only from the cluster and the allowed CIDRs; metrics and health from the cluster."""
    peer_roles = sorted(r.value for r in accepts_p2p_from(p.role))
    in_cluster_peers = {
        "namespaceSelector": {},
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/part-of": PART_OF},
            "matchExpressions": [{"key": ROLE_LABEL, "operator": "In", "values": peer_roles}],
        },
    }
    cluster: dict[str, Any] = {"namespaceSelector": {}}
    rules: list[dict[str, Any]] = [
        {
            "from": [in_cluster_peers, *_ip_blocks(p.external_p2p_cidrs)],
            "ports": [{"port": p.p2p_port, "protocol": "TCP"}, {"port": p.p2p_port, "protocol": "UDP"}],
        },
        {
            "from": [cluster],
            "ports": [
                {"port": layout.METRICS_PORT, "protocol": "TCP"},
                {"port": layout.HEALTHCHECK_PORT, "protocol": "TCP"},
            ],
        },
    ]
    if p.role is not Role.VALIDATOR:
        # The pod's port, not the Service's: NetworkPolicies see traffic after the Service has translated 443.
        rules.append(
            {
                "from": [cluster, *_ip_blocks(p.rpc_cidrs)],
                "ports": [{"port": rpc_proxy.UNPRIVILEGED_HTTPS_PORT, "protocol": "TCP"}],
            }
        )
    if p.has_tm:
        rules.append(
            {
                "from": [in_cluster_peers, *_ip_blocks(p.external_p2p_cidrs)],
                "ports": [{"port": layout.TESSERA_P2P_PORT, "protocol": "TCP"}],
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{p.member}-{p.role.value}",
            "namespace": p.namespace,
            "labels": {"app.kubernetes.io/part-of": PART_OF, MEMBER_LABEL: p.member, ROLE_LABEL: p.role.value},
        },
        "spec": {
            "podSelector": {"matchLabels": {MEMBER_LABEL: p.member, ROLE_LABEL: p.role.value}},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def disruption_budget(member: str, namespace: str, role: Role) -> dict[str, Any]:
    """At most one node of a role down for voluntary disruptions (drains, upgrades): a BFT network keeps making
    blocks while fewer than a third of its validators are down, so validators go one at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": f"{member}-{role.value}",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": PART_OF, MEMBER_LABEL: member, ROLE_LABEL: role.value},
        },
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {MEMBER_LABEL: member, ROLE_LABEL: role.value}},
        },
    }


def namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/part-of": PART_OF,
                # Pods here meet the "restricted" Pod Security Standard; enforce it.
                "pod-security.kubernetes.io/enforce": "restricted",
            },
        },
    }
