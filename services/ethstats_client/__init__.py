"""Reports a LACChain node to an ethstats dashboard (eth-netstats), speaking the eth-net-intelligence-api
protocol over a WebSocket and reading the node through Besu's JSON-RPC.

The reference client is a Node.js application, which would add a runtime to every node for one small job; this
is a Python sidecar speaking the same wire protocol, isolated from Besu as the LACChain node design asks (one
container per service). Besu's built-in ``--ethstats`` reporter is the alternative when a separate service is
not wanted.
"""
