"""LacchainNode on AWS: one EC2 instance per node, with its chain data on a separate EBS volume.

What each node gets (all children of its ``LacchainNode``, on the member's provider for the node's region):

- an Elastic IP (``staticAddress``, the default) reserved in phase one: its address is the host of the node's enode;
- a Secrets Manager secret holding the Besu node key (the version's input is the Pulumi secret; it never appears in
  user data, which anyone on the instance or with ``ec2:DescribeInstanceAttribute`` can read);
- an IAM role and instance profile that can read *its own* node-key secret, plus the five actions Session Manager
  needs: nothing more. ``AmazonSSMManagedInstanceCore`` is deliberately not attached: it also grants
  ``ssm:GetParameter(s)`` on every parameter of the account, State Manager and inventory, none of which a node needs
  to be reachable by Session Manager;
- on writers with a transaction manager, the TM keys live in the member's ``OrionKeyVault`` for the region (a
  customer-managed KMS key and a protected secret per node, created before the nodes): once the role exists the
  vault grants it that node's secret only (``ctx.tm_keys.grant``), and the key agent's settings in the user data
  are the vault's ``agent_env``;
- a security group with exactly the role's ports (``lacchain.vm.ingress_rules``): no SSH, Session Manager is the
  way in (no inbound port, every session is IAM-authorised and logged);
- a gp3 EBS data volume in the node's availability zone: encrypted, ``protect``-ed and kept on delete, attached
  to the instance and mounted at /var/lib/lacchain by the boot files (formatted only if blank). Replacing or losing
  the instance never touches it;
- the instance: Debian 12 (the official AMI from Debian's public SSM parameter, unless ``machineImage``), the size's
  instance type, IMDSv2 only with a hop limit of 1 (the host-side key fetch and the host-network key agent are no
  hop away; anything in a Docker bridge network is, and gets no answer), an encrypted root volume, and
  gzip-compressed cloud-init user data rendered by ``lacchain.cloud_init``. Once the key agent has run, the
  containers' uid is cut off from the metadata service altogether (``lacchain.vm.metadata_guard_script``): nginx
  faces the Internet and must not be one request away from the role's credentials.

A change to the node's files replaces the instance (``user_data_replace_on_change``), the twin of a pod rolling when
its ConfigMap changes; the replacement is delete-first (an EBS volume attaches to one instance at a time) and the
volume is detached only after the instance stops, so Besu shuts down cleanly. The default AMI is resolved when the
instance is created and then kept (``ignore_changes``): a new Debian point release does not replace running nodes;
set ``machineImage`` or ``pulumi up --replace`` to move them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from components.backends.base import NodeContext, NodeDeployment, NodeInputs
from components.backends.vm_common import (
    member_peer_hosts,
    node_ingress_rules,
    pod_facts,
    secret_value,
    serves_rpc,
    tags_for,
)
from lacchain import cloud_init, vm
from lacchain.roles import Platform, TransactionManager

DEBIAN_12_AMI_PARAMETER = "/aws/service/debian/release/12/latest/amd64"
"""Debian's public SSM parameter naming the current official Debian 12 (bookworm) amd64 AMI of the region."""
ROOT_VOLUME_GB = 20
IMDS_HOP_LIMIT = 1
SECRET_RECOVERY_DAYS = 7
IAM_VERSION = "2012-10-17"
SESSION_MANAGER_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
"""What the SSM agent needs for Session Manager (AWS's documented minimal instance policy). These actions have no
resource-level permissions, so their resource is ``*``."""


def trust_policy() -> dict[str, Any]:
    """Only EC2 may assume the node role (it hands the role to this instance through the instance profile)."""
    return {
        "Version": IAM_VERSION,
        "Statement": [
            {
                "Sid": "Ec2AssumesNodeRole",
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def node_key_policy(secret_arn: str) -> dict[str, Any]:
    """Read the node's own key, nothing else (not even its metadata)."""
    return {
        "Version": IAM_VERSION,
        "Statement": [
            {
                "Sid": "ReadOwnNodeKey",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secret_arn,
            }
        ],
    }


def session_manager_policy() -> dict[str, Any]:
    return {
        "Version": IAM_VERSION,
        "Statement": [
            {"Sid": "SessionManager", "Effect": "Allow", "Action": list(SESSION_MANAGER_ACTIONS), "Resource": "*"}
        ],
    }


def security_group_ingress(rules: list[vm.IngressRule]) -> list[Any]:
    """EC2 ingress blocks for ``lacchain.vm`` rules: one per protocol, IPv4 and IPv6 sources kept apart."""
    blocks: list[dict[str, Any]] = []
    for rule in rules:
        v4, v6 = vm.split_families(rule.sources)
        for protocol in rule.protocols:
            block: dict[str, Any] = {
                "description": f"{rule.description} ({protocol})",
                "protocol": protocol,
                "from_port": rule.port,
                "to_port": rule.port,
            }
            if v4:
                block["cidr_blocks"] = v4
            if v6:
                block["ipv6_cidr_blocks"] = v6
            blocks.append(block)
    return blocks


class AwsBackend:
    """The AWS implementation of ``NodeBackend`` for one member: one provider per region, created once, as
    children of the member component."""

    def __init__(self, member: str, parent: pulumi.Resource) -> None:
        self._member = member
        self._parent = parent
        self._providers: dict[str, aws.Provider] = {}
        self._amis: dict[str, pulumi.Output[str]] = {}
        self._eips: dict[str, aws.ec2.Eip] = {}

    def provider(self, region: str) -> aws.Provider:
        if region not in self._providers:
            self._providers[region] = aws.Provider(
                f"aws-{self._member}-{region}",
                region=region,
                opts=pulumi.ResourceOptions(parent=self._parent),
            )
        return self._providers[region]

    @staticmethod
    def _region(ctx: NodeContext) -> str:
        region = ctx.node.placement.region
        assert region is not None  # the stack schema requires it on AWS
        return region

    def _opts(self, ctx: NodeContext, parent: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=self.provider(self._region(ctx)), **extra)

    def _invoke(self, ctx: NodeContext, parent: pulumi.Resource) -> pulumi.InvokeOutputOptions:
        return pulumi.InvokeOutputOptions(parent=parent, provider=self.provider(self._region(ctx)))

    def reserve_address(self, ctx: NodeContext, parent: pulumi.Resource) -> pulumi.Output[str]:
        node = ctx.node
        if not node.static_address:
            assert node.dns_name is not None  # the schema requires dnsName without a static address
            return pulumi.Output.from_input(node.dns_name)
        eip = aws.ec2.Eip(
            f"{ctx.resource_name}-eip",
            domain="vpc",
            tags={**tags_for(ctx), "Name": ctx.resource_name},
            opts=self._opts(ctx, parent),
        )
        self._eips[node.name] = eip
        return eip.public_ip

    def _ami(self, ctx: NodeContext, parent: pulumi.Resource) -> pulumi.Output[str]:
        if ctx.node.machine_image:
            return pulumi.Output.from_input(ctx.node.machine_image)
        region = self._region(ctx)
        if region not in self._amis:
            self._amis[region] = aws.ssm.get_parameter_output(
                name=DEBIAN_12_AMI_PARAMETER, region=region, opts=self._invoke(ctx, parent)
            ).value
        return self._amis[region]

    def _placement(
        self, ctx: NodeContext, parent: pulumi.Resource
    ) -> tuple[pulumi.Output[str], pulumi.Output[str] | None]:
        """(availability zone, VPC id or None for the default VPC). The data volume must be in the instance's zone:
        the subnet's zone when a subnet is given, else ``placement.zone``, else the region's first available zone."""
        placement = ctx.node.placement
        region = self._region(ctx)
        if placement.subnet_id:
            subnet = aws.ec2.get_subnet_output(id=placement.subnet_id, region=region, opts=self._invoke(ctx, parent))
            return subnet.availability_zone, subnet.vpc_id
        if placement.zone:
            return pulumi.Output.from_input(placement.zone), None
        zones = aws.get_availability_zones_output(
            state="available",
            filters=[{"name": "region-name", "values": [region]}],
            region=region,
            opts=self._invoke(ctx, parent),
        )
        return zones.names.apply(lambda names: sorted(names)[0]), None

    def deploy(self, ctx: NodeContext, inputs: NodeInputs, parent: pulumi.Resource) -> NodeDeployment:
        node = ctx.node
        name = ctx.resource_name
        region = self._region(ctx)
        tags = tags_for(ctx)
        eip = self._eips.get(node.name)
        host: pulumi.Output[str] = eip.public_ip if eip is not None else pulumi.Output.from_input(node.dns_name or "")
        zone, vpc_id = self._placement(ctx, parent)
        tm_keys = ctx.tm_keys
        if (node.transaction_manager is not TransactionManager.NONE) != (tm_keys is not None):
            raise ValueError(f"{name}: a writer with a transaction manager, and only it, has a key vault entry")

        # The node key: a secret of its own, readable by this node's role only.
        key_secret = aws.secretsmanager.Secret(
            f"{name}-node-key",
            name=f"lacchain/{ctx.member}/{node.name}/node-key",
            description=f"Besu node key of LACChain {node.role.value} {name} (read by the node at boot)",
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            region=region,  # the provider's region, stated so that ARNs are known offline (synth)
            tags=tags,
            opts=self._opts(ctx, parent),
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-node-key",
            secret_id=key_secret.id,
            secret_string=secret_value(inputs.node_key),
            opts=self._opts(ctx, parent),
        )
        # Identity: least privilege, every document checked with parliament in the tests.
        role = aws.iam.Role(
            f"{name}-role",
            description=f"LACChain node {name}: reads its own key secret; Session Manager",
            assume_role_policy=json.dumps(trust_policy()),
            max_session_duration=3600,
            tags=tags,
            opts=self._opts(ctx, parent),
        )
        policies: list[pulumi.Resource] = [
            aws.iam.RolePolicy(
                f"{name}-node-key",
                role=role.id,
                policy=key_secret.arn.apply(lambda arn: json.dumps(node_key_policy(arn))),
                opts=self._opts(ctx, parent),
            ),
            aws.iam.RolePolicy(
                f"{name}-session-manager",
                role=role.id,
                policy=json.dumps(session_manager_policy()),
                opts=self._opts(ctx, parent),
            ),
        ]
        if tm_keys is not None:
            from components.orion_key_vault import AwsReader

            # The vault's policy: this node's TM key secret, and the vault's KMS key only through it. An IAM role's
            # id is its name.
            policies += tm_keys.grant(AwsReader(role.id))
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.id, tags=tags, opts=self._opts(ctx, parent))

        # Network: exactly the role's ports.
        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description=f"LACChain {node.role.value} {name}: only the role's ports",
            vpc_id=vpc_id,
            ingress=pulumi.Output.all(inputs.files, host, member_peer_hosts(ctx, inputs)).apply(
                lambda resolved: security_group_ingress(node_ingress_rules(ctx, resolved))
            ),
            egress=[
                {
                    "description": "peers, package mirrors, image registries, AWS APIs",
                    "protocol": "-1",
                    "from_port": 0,
                    "to_port": 0,
                    "cidr_blocks": ["0.0.0.0/0"],
                    "ipv6_cidr_blocks": ["::/0"],
                }
            ],
            revoke_rules_on_delete=True,
            tags={**tags, "Name": name},
            opts=self._opts(ctx, parent),
        )

        # The private space: outlives the instance, the stack and `pulumi destroy`.
        data = aws.ebs.Volume(
            f"{name}-data",
            availability_zone=zone,
            size=node.disk_gb,
            type="gp3",
            encrypted=True,
            final_snapshot=True,
            tags={**tags, "Name": f"{name}-data"},
            opts=self._opts(ctx, parent, protect=True, retain_on_delete=True),
        )

        facts = pod_facts(ctx, inputs)

        def user_data(resolved: list[Any]) -> str:
            files, volume_id, key_arn, agent_env, own_host = resolved
            plan = vm.boot_plan(
                vm.VmNode(
                    pod=facts,
                    platform=Platform.AWS,
                    host=own_host,
                    data_device=vm.aws_data_device(volume_id),
                    node_key_secret=key_arn,
                    region=region,
                    keyagent_env=agent_env,
                ),
                files,
            )
            return cloud_init.ec2_user_data(plan)

        rendered = pulumi.Output.all(
            inputs.files,
            data.id,
            key_secret.arn,
            tm_keys.keys.agent_env if tm_keys is not None else None,
            host,
        ).apply(user_data)

        size = facts.size
        instance = aws.ec2.Instance(
            name,
            ami=self._ami(ctx, parent),
            instance_type=size.aws_instance_type,
            subnet_id=node.placement.subnet_id,
            availability_zone=None if node.placement.subnet_id else zone,
            associate_public_ip_address=None if node.static_address else True,
            vpc_security_group_ids=[security_group.id],
            iam_instance_profile=profile.id,  # an instance profile's id is its (auto-generated) name
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": IMDS_HOP_LIMIT,
                "instance_metadata_tags": "disabled",
            },
            root_block_device={
                "encrypted": True,
                "volume_type": "gp3",
                "volume_size": ROOT_VOLUME_GB,
                "delete_on_termination": True,
                "tags": {**tags, "Name": f"{name}-root"},
            },
            user_data_base64=rendered,
            user_data_replace_on_change=True,
            tags={**tags, "Name": name},
            opts=self._opts(
                ctx,
                parent,
                depends_on=[*policies, profile],
                delete_before_replace=True,
                ignore_changes=[] if node.machine_image else ["ami"],
            ),
        )
        aws.ec2.VolumeAttachment(
            f"{name}-data",
            device_name=vm.AWS_DATA_ATTACHMENT,
            volume_id=data.id,
            instance_id=instance.id,
            stop_instance_before_detaching=True,
            opts=self._opts(ctx, parent, delete_before_replace=True),
        )
        if eip is not None:
            aws.ec2.EipAssociation(
                f"{name}-eip",
                allocation_id=eip.allocation_id,
                instance_id=instance.id,
                opts=self._opts(ctx, parent, delete_before_replace=True),
            )

        public_ip = eip.public_ip if eip is not None else instance.public_ip
        extra: Mapping[str, pulumi.Input[str]] = {
            "instance_id": instance.id,
            "data_volume_id": data.id,
            "public_ip": public_ip,
            "node_key_secret": key_secret.arn,
            "availability_zone": zone,
            **({"tm_key_secret": tm_keys.keys.secret_ref} if tm_keys is not None else {}),
        }
        rpc_endpoint = pulumi.Output.concat("https://", host) if serves_rpc(ctx) else None
        return NodeDeployment(rpc_endpoint=rpc_endpoint, extra_outputs=extra)
