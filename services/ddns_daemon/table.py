"""The network's node table as the DDNS function serves it (``GET /v1/nodes``), and the client that polls it.

The table is polled every second or so by every node, so the client sends ``If-None-Match`` with the last ETag:
a function that supports it answers ``304 Not Modified`` with no body, which keeps the poll cheap; one that does
not simply answers 200 every time and everything still works.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from lacchain.enode import Enode, EnodeError
from lacchain.stack_config import Role

log = logging.getLogger(__name__)

NODES_PATH = "/v1/nodes"


class TableError(Exception):
    """The table could not be fetched or is not usable; the message says why (no secrets involved)."""


@dataclass(frozen=True)
class TableNode:
    """One row of the table: where a node of the network was last reported to be."""

    node_id: str
    name: str
    role: Role
    host: str
    port: int
    sequence: int
    updated_at: int

    @property
    def enode(self) -> Enode:
        return Enode.of(self.node_id, self.host, self.port)


@dataclass(frozen=True)
class NodeTable:
    network: str
    zone: str
    nodes: tuple[TableNode, ...]
    enr_tree: str | None = None

    def find(self, node_id: str) -> TableNode | None:
        return next((node for node in self.nodes if node.node_id == node_id), None)

    @classmethod
    def from_document(cls, document: Any, expected_network: str) -> NodeTable:
        """Parse a ``/v1/nodes`` body. Rows that are not usable (bad id, unknown role, bad address) are skipped
        with a warning, so one bad row cannot stop the whole network from syncing."""
        if not isinstance(document, dict) or not isinstance(document.get("nodes"), list):
            raise TableError('the node table is not {"network": ..., "nodes": [...]}')
        network = document.get("network")
        if network != expected_network:
            raise TableError(
                f"the function serves network {network!r}, this node is configured for {expected_network!r}; "
                "check function.url and network in the daemon config"
            )
        nodes: list[TableNode] = []
        for index, row in enumerate(document["nodes"]):
            node = _parse_row(row, index)
            if node is not None:
                nodes.append(node)
        enr_tree = document.get("enrTree")
        return cls(
            network=network,
            zone=str(document.get("zone", "")),
            nodes=tuple(sorted(nodes, key=lambda n: n.name)),
            enr_tree=enr_tree if isinstance(enr_tree, str) else None,
        )


def _parse_row(row: Any, index: int) -> TableNode | None:
    if not isinstance(row, dict):
        log.warning("node table row %d is not an object; skipped", index)
        return None
    try:
        node = TableNode(
            node_id=str(row["nodeId"]),
            name=str(row["name"]),
            role=Role(row["role"]),
            host=str(row["host"]),
            port=int(row["port"]),
            sequence=int(row.get("sequence", 0)),
            updated_at=int(row.get("updatedAt", 0)),
        )
        node.enode  # noqa: B018 - validates node id, host and port together
    except (KeyError, TypeError, ValueError, EnodeError) as exc:
        log.warning("node table row %d (%s) is not usable and is skipped: %s", index, row.get("name", "?"), exc)
        return None
    return node


@dataclass(frozen=True)
class TableFetch:
    table: NodeTable
    changed: bool
    """False when the function answered 304 (the cached table is still current)."""


class TableClient:
    """Fetches the node table, remembering the last ETag and table for conditional requests."""

    def __init__(self, function_url: str, network: str, client: httpx.Client) -> None:
        self._url = function_url.rstrip("/") + NODES_PATH
        self._network = network
        self._client = client
        self._etag: str | None = None
        self._table: NodeTable | None = None

    @property
    def cached(self) -> NodeTable | None:
        return self._table

    def fetch(self) -> TableFetch:
        headers = {"Accept": "application/json"}
        if self._etag is not None and self._table is not None:
            headers["If-None-Match"] = self._etag
        try:
            response = self._client.get(self._url, headers=headers)
        except httpx.TimeoutException:
            raise TableError(f"GET {self._url} timed out") from None
        except httpx.TransportError as exc:
            raise TableError(f"GET {self._url} failed: {exc}") from None
        if response.status_code == 304 and self._table is not None:
            return TableFetch(self._table, changed=False)
        if response.status_code != 200:
            raise TableError(f"GET {self._url} answered HTTP {response.status_code}: {_error_text(response)}")
        try:
            document = response.json()
        except ValueError:
            raise TableError(f"GET {self._url} did not answer JSON") from None
        table = NodeTable.from_document(document, self._network)
        changed = table != self._table
        self._table = table
        self._etag = response.headers.get("ETag")
        return TableFetch(table, changed=changed)


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return f"{error.get('field', '?')}: {error.get('problem', '?')}"
    except (ValueError, AttributeError):
        return response.text[:200]
