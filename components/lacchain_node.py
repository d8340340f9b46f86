"""``LacchainNode``: one LACChain node (validator, boot, writer or observer) on Kubernetes, AWS or GCP.

The component is built in two steps (see ``components.backends.base``): the constructor reserves the node's p2p
address, and ``deploy`` creates everything else once the member program has rendered every node's files from all
addresses. ``components.member.deploy_member`` drives both steps; other programs (the BaaS controller) use it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.backends.base import NodeBackend, NodeContext, NodeInputs

TYPE = "lacchain:index:LacchainNode"


@dataclass(frozen=True)
class LacchainNodeArgs:
    context: NodeContext
    backend: NodeBackend


class LacchainNode(pulumi.ComponentResource):
    """A LACChain node. Outputs: ``p2p_host``, ``enode``, ``rpc_endpoint`` (None on validators), ``role``."""

    p2p_host: pulumi.Input[str]
    enode: pulumi.Input[str]

    def __init__(self, name: str, args: LacchainNodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        self._args = args
        self.p2p_host = args.backend.reserve_address(args.context, self)
        self._deployed = False

    def deploy(self, inputs: NodeInputs, enode: pulumi.Input[str]) -> None:
        """Create the node's compute with its rendered files, and publish its outputs."""
        if self._deployed:
            raise RuntimeError(f"LacchainNode {self._name} deployed twice")
        self._deployed = True
        deployment = self._args.backend.deploy(self._args.context, inputs, self)
        self.enode = enode
        node = self._args.context.node
        outputs: dict[str, pulumi.Input[str] | None] = {
            "enode": enode,
            "p2p_host": self.p2p_host,
            "role": node.role.value,
            "platform": node.platform.value,
            "rpc_endpoint": deployment.rpc_endpoint,
            **deployment.extra_outputs,
        }
        self.rpc_endpoint = deployment.rpc_endpoint
        self.register_outputs(outputs)
