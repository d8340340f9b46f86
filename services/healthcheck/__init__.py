"""Liveness and readiness of a LACChain node, served over HTTP for Kubernetes probes and load balancers.

``/healthz`` answers whether the Besu process is alive (its JSON-RPC answers at all), so a restart is only
triggered by a dead or wedged process, never by a slow sync. ``/readyz`` answers whether the node is useful:
enough peers for its role, in sync, producing or importing fresh blocks, and, on writers with a transaction
manager, that manager up. Each answer is JSON listing every check, so an operator sees *why* a node is not
ready without reading logs.
"""
