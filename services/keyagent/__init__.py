"""Key agent: gives a LACChain node its transaction-manager identity from the member's key vault at start.

Runs once before the transaction manager (Kubernetes init container, systemd oneshot ``lacchain-keyagent``),
authenticates with the platform identity only, creates the node's Curve25519 key pair on first boot with
create-if-absent semantics, and writes the key files to a memory-backed directory. See README.md.
"""
