"""Ports and file locations shared by every platform, so a node looks the same on Kubernetes and on a VM.

The Besu config, the Kubernetes manifests, the cloud-init user data, the images and the key agent all read these
constants; changing a port here changes it everywhere at once.
"""

from __future__ import annotations

from typing import Final

# LACChain ports (from LACChain's node deployment repositories).
P2P_PORT: Final = 60606
RPC_HTTP_PORT: Final = 4545
RPC_WS_PORT: Final = 4546
GRAPHQL_HTTP_PORT: Final = 4547
METRICS_PORT: Final = 9545
METRICS_PUSH_PORT: Final = 9091
ORION_NODE_PORT: Final = 4040
ORION_CLIENT_PORT: Final = 4444
TESSERA_P2P_PORT: Final = 4040
TESSERA_Q2T_PORT: Final = 4444
TESSERA_THIRDPARTY_PORT: Final = 4445
NGINX_HTTPS_PORT: Final = 443
HEALTHCHECK_PORT: Final = 8080
DDNS_METRICS_PORT: Final = 9560
DDNS_DAEMON_CONFIG: Final = "ddns/daemon.toml"
"""The DDNS daemon's configuration, relative to ``CONFIG_DIR``: a node runs the daemon exactly when its rendered
files include this one."""
DDNS_STATE_DIR: Final = "/var/lib/lacchain/ddns"
"""The daemon's update sequence and applied state, on the data volume so a replaced VM keeps counting up."""
"""Prometheus metrics of the DDNS daemon (loopback on VMs, the pod IP on Kubernetes)."""

# Paths inside containers and on VMs.
CONFIG_DIR: Final = "/etc/lacchain"
"""Rendered, non-secret configuration: config.toml, genesis.json, permissions_config.toml, static-nodes.json."""
DATA_DIR: Final = "/var/lib/lacchain"
"""Persistent volume root: Besu chain data under besu/, transaction manager database under tm/."""
SECRETS_DIR: Final = "/run/lacchain/keys"
"""Memory-backed (tmpfs) directory the key agent fills at start: node key and transaction manager keys."""

BESU_CONFIG_FILE: Final = f"{CONFIG_DIR}/config.toml"
GENESIS_FILE: Final = f"{CONFIG_DIR}/genesis.json"
PERMISSIONS_FILE: Final = f"{CONFIG_DIR}/permissions_config.toml"
STATIC_NODES_FILE: Final = f"{CONFIG_DIR}/static-nodes.json"
BESU_DATA_PATH: Final = f"{DATA_DIR}/besu"
NODE_KEY_FILE: Final = f"{SECRETS_DIR}/key"
TM_DATA_PATH: Final = f"{DATA_DIR}/tm"
TM_CONFIG_DIR: Final = f"{CONFIG_DIR}/tm"
TM_PUBLIC_KEY_FILE: Final = f"{SECRETS_DIR}/nodeKey.pub"
TM_PRIVATE_KEY_FILE: Final = f"{SECRETS_DIR}/nodeKey.key"
TM_TLS_DIR: Final = f"{SECRETS_DIR}/tls"
