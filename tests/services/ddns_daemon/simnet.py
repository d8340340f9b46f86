"""A simulated LACChain network on loopback for the end-to-end test and the benchmark.

Every node has its own node key, config directory (Besu ``config.toml`` with other settings the daemon must not
touch, ``permissions_config.toml``), state directory, and a Besu JSON-RPC double served over WebSocket (as Besu's
loopback ``rpc-ws`` endpoint, the daemon's default transport); all nodes share one echo server
(two paths per node, so the quorum of two is exercised) and the real DDNS function (the on-prem HTTP server of
``services.ddns_function``, in-process, SQLite table).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lacchain.keys import NodeKey
from lacchain.stack_config import Role
from services.ddns_daemon.config import DaemonConfig, load_config
from services.ddns_daemon.daemon import Daemon
from services.ddns_function.http_server import local_service, running
from tests.services.ddns_daemon.doubles import BesuRpcDouble, HttpDouble, echo

NETWORK = "lacchain-simnet"
ZONE = "nodes.example.org"

CONFIG_TOML_HEAD = """\
# Besu configuration rendered by the platform; the daemon owns only bootnodes.
data-path="/var/lib/lacchain/besu"
genesis-file="/etc/lacchain/genesis.json"
p2p-port=60606
rpc-http-enabled=true
rpc-http-port=4545
rpc-http-api=["ETH","NET","IBFT"]   # public APIs only: nginx publishes this endpoint
rpc-ws-enabled=true
rpc-ws-host="127.0.0.1"
rpc-ws-port=4546
rpc-ws-api=["ETH","NET","ADMIN","PERM"]   # loopback only: ADMIN and PERM for the DDNS daemon
min-gas-price=0
"""
CONFIG_TOML_TAIL = """\
metrics-push-enabled=true
metrics-push-host="metrics.example.org"
metrics-push-port=9091
"""


def initial_address(index: int) -> str:
    return f"52.0.{index}.10"


@dataclass
class SimNode:
    index: int
    name: str
    role: Role
    key: NodeKey
    root: Path
    rpc: BesuRpcDouble
    config_path: Path
    address: str
    daemon: Daemon | None = field(default=None, repr=False)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def static_nodes(self) -> list[str]:
        return list(json.loads((self.etc / "static-nodes.json").read_text()))

    def config(self) -> DaemonConfig:
        return load_config(self.config_path, environ={})

    def start(self) -> Daemon:
        self.daemon = Daemon.from_config(self.config())
        return self.daemon


@dataclass
class SimNetwork:
    nodes: list[SimNode]
    addresses: dict[str, str]
    """What the echo server answers, by path; ``move`` changes a node's address there."""
    function_url: str
    service: object

    def move(self, node: SimNode, address: str) -> None:
        node.address = address
        self.addresses[f"a{node.index}"] = address
        self.addresses[f"b{node.index}"] = address

    def close(self) -> None:
        for node in self.nodes:
            if node.daemon is not None:
                node.daemon.close()


def _write_node(root: Path, index: int, role: Role, echo_url: str, function_url: str, rpc_url: str) -> Path:
    etc = root / "etc"
    etc.mkdir(parents=True)
    (etc / "config.toml").write_text(CONFIG_TOML_HEAD + "bootnodes=[]\n" + CONFIG_TOML_TAIL)
    (etc / "permissions_config.toml").write_text('accounts-allowlist=["0xfe3b557e8fb62b89f4916b721be55ceb828dbd73"]\n')
    config = f"""\
network = "{NETWORK}"
node_key_file = "{root / "keys" / "key"}"
state_dir = "{root / "state"}"
role = "{role.value}"

[function]
url = "{function_url}"
max_attempts = 3
backoff_initial_seconds = 0.01

[ip]
quorum = 2
check_interval_seconds = 30
timeout_seconds = 2

[[ip.sources]]
kind = "echo"
name = "echo-a"
url = "{echo_url}/a{index}"

[[ip.sources]]
kind = "echo"
name = "echo-b"
url = "{echo_url}/b{index}"

[sync]
static_nodes_file = "{etc / "static-nodes.json"}"
besu_config_file = "{etc / "config.toml"}"
allowlist_file = "{etc / "permissions_config.toml"}"

[besu]
rpc_url = "{rpc_url}"

[metrics]
enabled = false
"""
    path = root / "ddns.toml"
    path.write_text(config)
    return path


@contextlib.contextmanager
def simulated_network(directory: Path, roles: Sequence[Role], tree_key: NodeKey | None = None) -> Iterator[SimNetwork]:
    """Nodes named ``node-00``.. with ``roles``, each registered as a member; nothing published yet. With
    ``tree_key`` the function publishes the EIP-1459 tree of the nodes' ENRs (signed with it) in its DNS."""
    keys = [NodeKey.generate() for _ in roles]
    names = [f"node-{i:02d}" for i in range(len(roles))]
    members = {
        "network": NETWORK,
        "nodes": [
            {"nodeId": key.node_id, "name": name, "role": role.value}
            for key, name, role in zip(keys, names, roles, strict=True)
        ],
    }
    addresses: dict[str, str] = {}
    for index in range(len(roles)):
        addresses[f"a{index}"] = addresses[f"b{index}"] = initial_address(index)
    service = local_service(members, ZONE, tree_key=tree_key)
    with contextlib.ExitStack() as stack:
        function_url = stack.enter_context(running(service))
        echo_server: HttpDouble = stack.enter_context(echo(addresses))
        nodes: list[SimNode] = []
        for index, (key, name, role) in enumerate(zip(keys, names, roles, strict=True)):
            root = directory / name
            rpc = BesuRpcDouble(allowlist=[])
            stack.enter_context(rpc.server)
            config_path = _write_node(root, index, role, echo_server.url, function_url, rpc.server.url)
            key.write(root / "keys")
            nodes.append(SimNode(index, name, role, key, root, rpc, config_path, initial_address(index)))
        network = SimNetwork(nodes, addresses, function_url, service)
        try:
            yield network
        finally:
            network.close()
