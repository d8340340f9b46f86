"""The DDNS node sync daemon: keeps a node's published address and its Besu peer lists current.

It runs beside Besu on every LACChain node (a systemd service on VMs, a sidecar container on Kubernetes) and does
three things in a cycle: detect the node's public address (a quorum of metadata and echo sources), publish it to
the network's DDNS update function as an update signed with the node key, and download the node table to rewrite
Besu's ``static-nodes.json``, the ``bootnodes`` of ``config.toml`` and the local ``permissions_config.toml``
allowlist, applying the difference to the running Besu over JSON-RPC (never restarting it).

Run it with ``python -m services.ddns_daemon --config FILE run`` (or ``once`` for one cycle).
"""
