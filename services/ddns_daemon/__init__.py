"""The DDNS node sync daemon: keeps a node's published address and its Besu peer lists current.

It runs beside Besu on every LACChain node (a systemd service on VMs, a sidecar container on Kubernetes) and does
three things in a cycle: detect the node's public address (a quorum of metadata and echo sources), publish it to
the network's DDNS update function as an update signed with the node key (then the node's signed ENR record, for
the network's EIP-1459 tree), and download the node table to rewrite Besu's ``static-nodes.json``, the
``bootnodes`` of ``config.toml`` and the local ``permissions_config.toml`` allowlist by the project's topology
(``lacchain.topology``), applying the difference to the running Besu over its loopback WebSocket JSON-RPC
(``ws://127.0.0.1:4546``, where ADMIN and PERM are; never restarting it).

Run it with ``python -m services.ddns_daemon --config FILE run`` (or ``once`` for one cycle).
"""
