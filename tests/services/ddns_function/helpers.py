"""Shared pieces of the DDNS function tests: node keys, member lists, signed updates, HTTP calls."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from lacchain.ddns.update import AddressUpdate, SignedUpdate
from lacchain.keys import NodeKey

NETWORK = "lacchain-test"
ZONE = "lacchain.example.org"
PUBLIC_V4 = "8.8.4.4"
PUBLIC_V4_NEW = "1.1.1.1"
PUBLIC_V6 = "2606:4700:4700::1111"


@dataclass
class Net:
    """Three member nodes (a writer, a validator, a boot) and an outsider with a valid key."""

    writer: NodeKey = field(default_factory=NodeKey.generate)
    validator: NodeKey = field(default_factory=NodeKey.generate)
    boot: NodeKey = field(default_factory=NodeKey.generate)
    outsider: NodeKey = field(default_factory=NodeKey.generate)

    def document(self) -> dict[str, Any]:
        return {
            "network": NETWORK,
            "nodes": [
                {"nodeId": self.writer.node_id, "name": "writer-1", "role": "writer"},
                {"nodeId": self.validator.node_id, "name": "validator-1", "role": "validator"},
                {"nodeId": self.boot.node_id, "name": "boot-1", "role": "boot"},
            ],
        }


def signed(
    key: NodeKey,
    host: str = PUBLIC_V4,
    sequence: int = 1,
    *,
    port: int = 60606,
    timestamp: int | None = None,
    network: str = NETWORK,
    node_id: str | None = None,
) -> SignedUpdate:
    update = AddressUpdate(
        network=network,
        node_id=node_id or key.node_id,
        host=host,
        port=port,
        sequence=sequence,
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    return update.sign(key)


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read() or b"null")
