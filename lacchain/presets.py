"""LACChain network presets: the parameters of the public LACChain networks a member can join.

A preset fixes what every node of that network must agree on (consensus parameters, ports, the permissioning
ingress contracts). A node that *joins* a public network must also use the network's published genesis file
byte for byte (its hash is the genesis block), which the stack names with ``network.genesisFile``; the preset
values are then checked against that file rather than trusted blindly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

NODES_INGRESS_ADDRESS = "0x0000000000000000000000000000000000009999"
ACCOUNTS_INGRESS_ADDRESS = "0x0000000000000000000000000000000000008888"
IBFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
"""The IBFT 2.0 / QBFT block identifier ('ctical byzantine fault tolerance' in ASCII)."""


LACCHAIN_FORKS: Mapping[str, Any] = {"constantinopleFixBlock": 0}
MODERN_FORKS: Mapping[str, Any] = {"londonBlock": 0, "zeroBaseFee": True}
"""Private networks we generate: the London EVM with a zero base fee (gas is free, as on LACChain)."""


class Consensus(StrEnum):
    IBFT2 = "ibft2"
    QBFT = "qbft"


class PresetName(StrEnum):
    PRO_TESTNET = "lacchain-pro-testnet"
    MAINNET = "lacchain-mainnet"
    CUSTOM = "custom"


@dataclass(frozen=True)
class NetworkPreset:
    """Consensus and network parameters shared by every node of one LACChain network."""

    name: PresetName
    chain_id: int | None
    """``None`` where the chain id is taken from the network's published genesis file."""
    consensus: Consensus = Consensus.IBFT2
    block_period_seconds: int = 2
    epoch_length: int = 30000
    request_timeout_seconds: int = 4
    gas_limit: int = 0x2FEFD800
    contract_size_limit: int = 2147483647
    onchain_permissioning: bool = True
    requires_published_genesis: bool = True
    evm_forks: Mapping[str, Any] = field(default_factory=lambda: dict(LACCHAIN_FORKS))
    """Fork activation keys of the genesis ``config``. LACChain's networks run the Petersburg EVM
    (``constantinopleFixBlock: 0``), so contracts for them must be compiled for that EVM version."""


PRESETS: dict[PresetName, NetworkPreset] = {
    PresetName.PRO_TESTNET: NetworkPreset(name=PresetName.PRO_TESTNET, chain_id=648539),
    PresetName.MAINNET: NetworkPreset(name=PresetName.MAINNET, chain_id=None),
    PresetName.CUSTOM: NetworkPreset(
        name=PresetName.CUSTOM,
        chain_id=None,
        onchain_permissioning=False,
        requires_published_genesis=False,
        evm_forks=MODERN_FORKS,
    ),
}


def preset(name: PresetName | str) -> NetworkPreset:
    """The preset called ``name``; ``KeyError`` names the known presets."""
    try:
        return PRESETS[PresetName(name)]
    except ValueError as exc:
        known = ", ".join(p.value for p in PresetName)
        raise KeyError(f"unknown network preset {name!r}; known: {known}") from exc
