"""What the reporter reads from the node, through standard JSON-RPC, shaped the way ethstats expects.

Some answers depend on which RPC APIs the node enables. Besu counts pending transactions with
``txpool_besuStatistics`` (TXPOOL API); geth-style nodes (and anvil) with ``txpool_status``; with neither we
report 0 rather than guess. ``eth_mining`` and ``eth_hashrate`` mean little under IBFT 2.0 and are reported
when answered, false/0 otherwise. A missing ``net_peerCount`` (NET API disabled) is reported as 0 peers.
"""

from __future__ import annotations

import platform
from typing import Any

from services.common.jsonrpc import JsonRpc, RpcError, RpcUnreachable, quantity
from services.ethstats_client.protocol import NodeInfo

CLIENT_VERSION = "0.1.0"
CLIENT_NAME = f"lacchain-ethstats/{CLIENT_VERSION}"


def _int(value: Any, what: str) -> int:
    return quantity(value, what) if value is not None else 0


def block_report(block: dict[str, Any]) -> dict[str, Any]:
    """A JSON-RPC block (transaction hashes only) as an ethstats ``block`` payload."""
    transactions = block.get("transactions") or []
    return {
        "number": quantity(block.get("number"), "block number"),
        "hash": block.get("hash"),
        "parentHash": block.get("parentHash"),
        "timestamp": quantity(block.get("timestamp"), "block timestamp"),
        "miner": block.get("miner"),
        "gasUsed": _int(block.get("gasUsed"), "gasUsed"),
        "gasLimit": _int(block.get("gasLimit"), "gasLimit"),
        "difficulty": str(_int(block.get("difficulty"), "difficulty")),
        "totalDifficulty": str(_int(block.get("totalDifficulty"), "totalDifficulty")),
        "transactions": [{"hash": tx if isinstance(tx, str) else tx.get("hash")} for tx in transactions],
        "transactionsRoot": block.get("transactionsRoot"),
        "stateRoot": block.get("stateRoot"),
        "uncles": list(block.get("uncles") or []),
    }


class ChainReader:
    """Reads the node. Transport failures (``RpcUnreachable``) propagate: the node is down; a method the node
    does not offer falls back as documented above."""

    def __init__(self, rpc: JsonRpc) -> None:
        self._rpc = rpc

    async def _optional(self, method: str, *params: Any) -> Any:
        try:
            return await self._rpc.call(method, *params)
        except RpcUnreachable:
            raise
        except RpcError:
            return None

    async def node_info(self, name: str, contact: str, p2p_port: int) -> NodeInfo:
        version = await self._rpc.call("web3_clientVersion")
        network = await self._rpc.call("net_version")
        chain_id = await self._optional("eth_chainId")
        return NodeInfo(
            name=name,
            contact=contact,
            node=str(version),
            net=str(network),
            protocol=str(quantity(chain_id, "eth_chainId")) if chain_id is not None else "",
            port=p2p_port,
            os=platform.system().lower(),
            os_v=platform.release(),
            client=CLIENT_VERSION,
            api=CLIENT_NAME,
        )

    async def head_number(self) -> int:
        return quantity(await self._rpc.call("eth_blockNumber"), "eth_blockNumber")

    async def block(self, number: int | None = None) -> dict[str, Any] | None:
        """The block ``number`` (the head when None) as an ethstats payload, or None if the node lacks it."""
        tag = "latest" if number is None else hex(number)
        block = await self._rpc.call("eth_getBlockByNumber", tag, False)
        return block_report(block) if isinstance(block, dict) else None

    async def pending(self) -> int:
        besu = await self._optional("txpool_besuStatistics")
        if isinstance(besu, dict):
            return int(besu.get("localCount", 0)) + int(besu.get("remoteCount", 0))
        status = await self._optional("txpool_status")
        if isinstance(status, dict):
            return _int(status.get("pending"), "txpool_status.pending")
        return 0

    async def stats(self, uptime: int) -> dict[str, Any]:
        peers = await self._optional("net_peerCount")
        syncing = await self._rpc.call("eth_syncing")
        mining = await self._optional("eth_mining")
        hashrate = await self._optional("eth_hashrate")
        gas_price = await self._optional("eth_gasPrice")
        return {
            "active": True,
            "syncing": syncing is not False,
            "mining": mining is True,
            "hashrate": _int(hashrate, "eth_hashrate"),
            "peers": _int(peers, "net_peerCount"),
            "gasPrice": _int(gas_price, "eth_gasPrice"),
            "uptime": uptime,
        }


def inactive_stats(uptime: int) -> dict[str, Any]:
    """What to report while the node does not answer: the dashboard greys it out."""
    return {
        "active": False,
        "syncing": False,
        "mining": False,
        "hashrate": 0,
        "peers": 0,
        "gasPrice": 0,
        "uptime": uptime,
    }
