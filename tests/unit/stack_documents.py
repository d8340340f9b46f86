"""Valid stack documents that tests vary."""

from __future__ import annotations

import copy
from typing import Any

VALID: dict[str, Any] = {
    "member": "acme",
    "devKeySeed": "test seed",
    "network": {"preset": "custom", "chainId": 1337, "permissioning": {"mode": "local"}},
    "nodes": [
        {"name": "validator-1", "role": "validator", "platform": "kubernetes", "placement": {"namespace": "acme"}},
        {"name": "validator-2", "role": "validator", "platform": "kubernetes", "placement": {"namespace": "acme"}},
        {"name": "boot-1", "role": "boot", "platform": "kubernetes", "placement": {"namespace": "acme"}},
        {
            "name": "writer-1",
            "role": "writer",
            "platform": "kubernetes",
            "transactionManager": "tessera",
            "placement": {"namespace": "acme"},
        },
        {
            "name": "writer-2",
            "role": "writer",
            "platform": "kubernetes",
            "transactionManager": "orion",
            "placement": {"namespace": "acme"},
        },
        {"name": "observer-1", "role": "observer", "platform": "kubernetes", "placement": {"namespace": "acme"}},
    ],
}


def valid() -> dict[str, Any]:
    return copy.deepcopy(VALID)
