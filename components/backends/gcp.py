"""LacchainNode on Google Cloud: one Compute Engine instance per node, with its chain data on a separate disk.

What each node gets (all children of its ``LacchainNode``, on the member's provider for the node's project and
region):

- a static external address (``staticAddress``, the default) reserved in phase one: the host of its enode;
- a dedicated service account, and a Secret Manager secret holding the Besu node key (the version's input is the
  Pulumi secret) on which that account, and only that account, has ``roles/secretmanager.secretAccessor``. The
  account has no project-level role at all. Writers with a transaction manager keep their TM keys in the member's
  ``OrionKeyVault`` for the project and region (Cloud KMS key, a CMEK-encrypted, protected secret per node, created
  before the nodes): once the account exists the vault makes it accessor and version manager of that node's secret
  only (``services/keyagent/stores/gcp.py`` needs both roles), and the key agent's settings are its ``agent_env``;
- VPC firewall rules targeting that service account (not network tags, which anyone who can edit the instance can
  change): exactly the role's ports from ``lacchain.vm.ingress_rules``, and a lower-priority deny of everything else,
  which also overrides the ``default`` network's allow-SSH/RDP/ICMP rules for this node;
- a pd-balanced persistent disk for chain data (encrypted at rest, as every persistent disk is), ``protect``-ed,
  kept on delete, snapshotted if it is ever destroyed, and attached as ``lacchain-data`` (attached disks are never
  auto-deleted with the instance);
- the instance: a Shielded VM (secure boot, vTPM, integrity monitoring) from ``debian-cloud/debian-12`` unless
  ``machineImage``, OS Login on, project-wide SSH keys blocked, serial port off.

Boot files: Debian's Compute Engine images do not run cloud-init (Google's guest environment replaces it; a
``user-data`` value is ignored), so the node's ``lacchain.vm`` plan is delivered as the ``startup-script`` the guest
agent runs as root at every boot (``lacchain.cloud_init.render_startup_script``): the same files and the same
bootstrap as the EC2 cloud-config. It is set as ``metadata_startup_script``, which replaces the instance when it
changes, like a pod rolling on a ConfigMap change; the instance is deleted before its replacement is created (the
disk attaches read-write to one instance at a time, and the instance name is reused).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.backends.base import NodeContext, NodeDeployment, NodeInputs
from components.backends.vm_common import (
    gcp_labels,
    member_peer_hosts,
    node_ingress_rules,
    pod_facts,
    secret_value,
    serves_rpc,
    short_name,
)
from lacchain import cloud_init, vm
from lacchain.roles import Platform, TransactionManager

DEFAULT_IMAGE = "debian-cloud/debian-12"
DEFAULT_NETWORK = "default"
DISK_TYPE = "pd-balanced"
BOOT_DISK_GB = 20
ALLOW_PRIORITY = 1000
DENY_PRIORITY = 2000
"""Below our allows, above the default network's rules (65534), so nothing else reaches the node."""
NO_SOURCE = "192.0.2.0/32"
"""RFC 5737 documentation address. A firewall rule cannot exist without a source; when a node knows no peer by IP
its p2p rule is created *disabled* with this source, which no packet can come from."""
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"


def firewall_rule_args(rule: vm.IngressRule) -> list[gcp.compute.FirewallAllowArgs]:
    """GCP ``allows`` blocks for one rule."""
    return [gcp.compute.FirewallAllowArgs(protocol=protocol, ports=[str(rule.port)]) for protocol in rule.protocols]


class GcpBackend:
    """The GCP implementation of ``NodeBackend`` for one member: one provider per (project, region), created once,
    as children of the member component."""

    def __init__(self, member: str, parent: pulumi.Resource) -> None:
        self._member = member
        self._parent = parent
        self._providers: dict[tuple[str, str], gcp.Provider] = {}
        self._addresses: dict[str, gcp.compute.Address] = {}

    def provider(self, project: str, region: str) -> gcp.Provider:
        key = (project, region)
        if key not in self._providers:
            self._providers[key] = gcp.Provider(
                f"gcp-{self._member}-{project}-{region}",
                project=project,
                region=region,
                opts=pulumi.ResourceOptions(parent=self._parent),
            )
        return self._providers[key]

    @staticmethod
    def _where(ctx: NodeContext) -> tuple[str, str, str]:
        placement = ctx.node.placement
        assert placement.project and placement.region and placement.zone  # required by the stack schema on GCP
        return placement.project, placement.region, placement.zone

    def _opts(self, ctx: NodeContext, parent: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        project, region, _ = self._where(ctx)
        return pulumi.ResourceOptions(parent=parent, provider=self.provider(project, region), **extra)

    def reserve_address(self, ctx: NodeContext, parent: pulumi.Resource) -> pulumi.Output[str]:
        node = ctx.node
        if not node.static_address:
            assert node.dns_name is not None  # the schema requires dnsName without a static address
            return pulumi.Output.from_input(node.dns_name)
        project, region, _ = self._where(ctx)
        address = gcp.compute.Address(
            f"{ctx.resource_name}-ip",
            name=short_name(f"lacchain-{ctx.resource_name}", 63),
            description=f"p2p address of LACChain {node.role.value} {ctx.resource_name}",
            project=project,
            region=region,
            address_type="EXTERNAL",
            network_tier="PREMIUM",
            labels=gcp_labels(ctx),
            opts=self._opts(ctx, parent),
        )
        self._addresses[node.name] = address
        return address.address

    def deploy(self, ctx: NodeContext, inputs: NodeInputs, parent: pulumi.Resource) -> NodeDeployment:
        node = ctx.node
        name = ctx.resource_name
        project, _, zone = self._where(ctx)
        labels = gcp_labels(ctx)
        network = node.placement.network or DEFAULT_NETWORK
        address = self._addresses.get(node.name)
        host: pulumi.Output[str] = (
            address.address if address is not None else pulumi.Output.from_input(node.dns_name or "")
        )
        has_tm = node.transaction_manager is not TransactionManager.NONE
        tm_keys = ctx.tm_keys
        if has_tm != (tm_keys is not None):
            raise ValueError(f"{name}: a writer with a transaction manager, and only it, has a key vault entry")

        # Identity: one service account per node, with no project role; rights only on its own secrets.
        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=short_name(f"lc-{name}", 30),
            display_name=f"LACChain node {name}"[:100],
            description=f"Runs LACChain {node.role.value} {name}; reads only its own key secret",
            project=project,
            opts=self._opts(ctx, parent),
        )
        member_id = account.email.apply(lambda email: f"serviceAccount:{email}")
        key_secret = gcp.secretmanager.Secret(
            f"{name}-node-key",
            secret_id=short_name(f"lacchain-{name}-node-key", 255),
            project=project,
            replication={"auto": {}},
            labels=labels,
            opts=self._opts(ctx, parent),
        )
        gcp.secretmanager.SecretVersion(
            f"{name}-node-key",
            secret=key_secret.id,
            secret_data=secret_value(inputs.node_key),
            opts=self._opts(ctx, parent),
        )
        grants: list[pulumi.Resource] = [
            gcp.secretmanager.SecretIamMember(
                f"{name}-node-key-accessor",
                project=project,
                secret_id=key_secret.secret_id,
                role=SECRET_ACCESSOR,
                member=member_id,
                opts=self._opts(ctx, parent),
            )
        ]
        if tm_keys is not None:
            from components.orion_key_vault import GcpReader

            grants += tm_keys.grant(GcpReader(account.email))

        # Network: the role's ports for this account's instances, then nothing.
        self._firewall(ctx, parent, inputs, host, account.email, network, has_tm)

        data = gcp.compute.Disk(
            f"{name}-data",
            name=short_name(f"lacchain-{name}-data", 63),
            description=f"Chain data of LACChain {node.role.value} {name}",
            project=project,
            zone=zone,
            type=DISK_TYPE,
            size=node.disk_gb,
            create_snapshot_before_destroy=True,
            labels=labels,
            opts=self._opts(ctx, parent, protect=True, retain_on_delete=True),
        )

        facts = pod_facts(ctx, inputs)

        def startup_script(resolved: list[Any]) -> str:
            files, key_name, agent_env, own_host = resolved
            plan = vm.boot_plan(
                vm.VmNode(
                    pod=facts,
                    platform=Platform.GCP,
                    host=own_host,
                    data_device=vm.gce_data_device(),
                    node_key_secret=key_name,
                    keyagent_env=agent_env,
                ),
                files,
            )
            return cloud_init.render_startup_script(plan)

        script = pulumi.Output.all(
            inputs.files, key_secret.name, tm_keys.keys.agent_env if tm_keys is not None else None, host
        ).apply(startup_script)

        access: dict[str, Any] = {"network_tier": "PREMIUM"}
        if address is not None:
            access["nat_ip"] = address.address
        instance = gcp.compute.Instance(
            name,
            name=short_name(f"lacchain-{name}", 63),
            description=f"LACChain {node.role.value} {name}",
            project=project,
            zone=zone,
            machine_type=facts.size.gcp_machine_type,
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                auto_delete=True,
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                    image=node.machine_image or DEFAULT_IMAGE, size=BOOT_DISK_GB, type=DISK_TYPE
                ),
            ),
            attached_disks=[
                gcp.compute.InstanceAttachedDiskArgs(
                    source=data.self_link, device_name=vm.GCE_DATA_DEVICE_NAME, mode="READ_WRITE"
                )
            ],
            network_interfaces=[
                gcp.compute.InstanceNetworkInterfaceArgs(
                    network=network,
                    access_configs=[gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(**access)],
                )
            ],
            service_account=gcp.compute.InstanceServiceAccountArgs(email=account.email, scopes=["cloud-platform"]),
            shielded_instance_config=gcp.compute.InstanceShieldedInstanceConfigArgs(
                enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
            ),
            metadata={
                "block-project-ssh-keys": "TRUE",
                "enable-oslogin": "TRUE",
                "serial-port-enable": "FALSE",
            },
            metadata_startup_script=script,
            allow_stopping_for_update=True,
            deletion_protection=False,
            labels=labels,
            opts=self._opts(ctx, parent, depends_on=grants, delete_before_replace=True),
        )

        public_ip = address.address if address is not None else instance.network_interfaces.apply(_ephemeral_ip)
        extra: Mapping[str, pulumi.Input[str]] = {
            "instance_id": instance.instance_id,
            "data_disk": data.self_link,
            "public_ip": public_ip,
            "service_account": account.email,
            "node_key_secret": key_secret.name,
            **({"tm_key_secret": tm_keys.keys.secret_ref} if tm_keys is not None else {}),
        }
        rpc_endpoint = pulumi.Output.concat("https://", host) if serves_rpc(ctx) else None
        return NodeDeployment(rpc_endpoint=rpc_endpoint, extra_outputs=extra)

    def _firewall(
        self,
        ctx: NodeContext,
        parent: pulumi.Resource,
        inputs: NodeInputs,
        host: pulumi.Output[str],
        email: pulumi.Output[str],
        network: str,
        has_tm: bool,
    ) -> None:
        """One allow rule per open port group, then the deny. Rules whose sources are only known once every node's
        address is (non-boot p2p and TM) always exist, disabled while they have no source (see ``NO_SOURCE``); the
        RPC rule exists only when the node serves RPC to listed networks. GCP rules hold IPv4 or IPv6 ranges, not
        both, and the node's interface is IPv4-only, so IPv6 peers are left out here."""
        node = ctx.node
        project, _, _ = self._where(ctx)
        name = ctx.resource_name

        resolved_rules = pulumi.Output.all(inputs.files, host, member_peer_hosts(ctx, inputs)).apply(
            lambda resolved: {rule.name: rule for rule in node_ingress_rules(ctx, resolved)}
        )
        static_rules = {
            r.name: r for r in vm.ingress_rules(node.role, has_tm, node.p2p_port, ["0.0.0.0/0"], node.rpc_allowed_cidrs)
        }
        for rule_name, template in static_rules.items():
            sources = resolved_rules.apply(
                lambda found, rule_name=rule_name: (
                    vm.split_families(found[rule_name].sources)[0] if rule_name in found else []
                )  # type: ignore[misc]
            )
            gcp.compute.Firewall(
                f"{name}-allow-{rule_name}",
                name=short_name(f"lacchain-{name}-allow-{rule_name}", 63),
                description=f"LACChain {node.role.value} {name}: {template.description}",
                project=project,
                network=network,
                direction="INGRESS",
                priority=ALLOW_PRIORITY,
                allows=firewall_rule_args(template),
                source_ranges=sources.apply(lambda s: s or [NO_SOURCE]),
                disabled=sources.apply(lambda s: not s),
                target_service_accounts=[email],
                opts=self._opts(ctx, parent),
            )
        gcp.compute.Firewall(
            f"{name}-deny-other",
            name=short_name(f"lacchain-{name}-deny-other", 63),
            description=f"LACChain {node.role.value} {name}: nothing else comes in (no SSH, metrics or health)",
            project=project,
            network=network,
            direction="INGRESS",
            priority=DENY_PRIORITY,
            denies=[{"protocol": "all"}],
            source_ranges=["0.0.0.0/0"],
            target_service_accounts=[email],
            opts=self._opts(ctx, parent),
        )


def _ephemeral_ip(interfaces: Any) -> str:
    """The ephemeral external IP of an instance without a static address (its first access config's NAT IP)."""
    configs = interfaces[0].access_configs if interfaces else None
    return str(configs[0].nat_ip or "") if configs else ""
