"""Genesis files for IBFT 2.0 and QBFT networks, with exact ``extraData``.

The genesis block's ``extraData`` names the initial validators, RLP-encoded as Besu expects:

- IBFT 2.0: ``RLP([vanity (32 bytes), [validator addresses], vote = b"", round = 4 zero bytes, seals = []])``
  (LACChain's published pro-testnet genesis ends ``...80 84 00000000 c0``);
- QBFT:     ``RLP([vanity (32 bytes), [validator addresses], vote = [], round = int 0, seals = []])``
  (Besu's QBFT documentation ends ``...c0 80 c0``).

``extra_data`` keeps the order it is given (so published files can be reproduced exactly); the member program
passes validators sorted by address so the same validator set always gives byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import rlp

from lacchain.errors import LacchainError
from lacchain.keys import to_checksum_address
from lacchain.presets import IBFT_MIX_HASH, Consensus, NetworkPreset

VANITY = b"\x00" * 32
GENESIS_TIMESTAMP = "0x58ee40ba"
"""The timestamp LACChain's genesis files use; fixed so generated genesis files are reproducible."""


class GenesisError(LacchainError, ValueError):
    """A genesis that cannot be built or does not match what the network requires."""


def _address_bytes(address: str) -> bytes:
    text = address.lower().removeprefix("0x")
    if len(text) != 40:
        raise GenesisError(f"validator address {address!r} is not 20 bytes (0x + 40 hex digits)")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise GenesisError(f"validator address {address!r} is not hexadecimal") from None


def extra_data(consensus: Consensus, validators: Iterable[str]) -> str:
    """The genesis ``extraData`` (0x-hex) naming ``validators`` for ``consensus``."""
    addresses = [_address_bytes(a) for a in validators]
    if not addresses:
        raise GenesisError("a BFT genesis needs at least one validator address")
    if len(set(addresses)) != len(addresses):
        raise GenesisError("a validator address is listed twice; each validator signs once")
    if consensus is Consensus.IBFT2:
        fields: list[Any] = [VANITY, addresses, b"", b"\x00\x00\x00\x00", []]
    else:
        fields = [VANITY, addresses, [], 0, []]
    return "0x" + rlp.encode(fields).hex()


def validators_from_extra_data(consensus: Consensus, extra: str) -> list[str]:
    """The checksummed validator addresses in a genesis ``extraData`` (to check a published genesis)."""
    try:
        decoded = rlp.decode(bytes.fromhex(extra.removeprefix("0x")))
    except Exception as exc:  # rlp raises several DecodingError subclasses and ValueError for bad hex
        raise GenesisError(f"extraData is not valid RLP ({exc})") from None
    if not isinstance(decoded, list) or len(decoded) != 5 or not isinstance(decoded[1], list):
        raise GenesisError(f"extraData is not an {consensus.value} extraData (expected a 5-item RLP list)")
    return [to_checksum_address(bytes(a).hex()) for a in decoded[1]]


@dataclass(frozen=True)
class GenesisSpec:
    """What a generated genesis contains beyond the preset's consensus parameters."""

    chain_id: int
    validators: tuple[str, ...]
    alloc: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Accounts and contracts at block 0 (address -> {balance, code, storage, comment})."""


def build_genesis(preset: NetworkPreset, spec: GenesisSpec) -> dict[str, Any]:
    """A complete genesis document for ``preset`` with ``spec``'s chain id, validators and allocations."""
    bft = {
        "blockperiodseconds": preset.block_period_seconds,
        "epochlength": preset.epoch_length,
        "requesttimeoutseconds": preset.request_timeout_seconds,
    }
    config: dict[str, Any] = {
        "chainId": spec.chain_id,
        **preset.evm_forks,
        "contractSizeLimit": preset.contract_size_limit,
        consensus_key(preset.consensus): bft,
    }
    alloc = {_normal_alloc_key(k): dict(v) for k, v in sorted(spec.alloc.items(), key=lambda kv: kv[0].lower())}
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": GENESIS_TIMESTAMP,
        "extraData": extra_data(preset.consensus, spec.validators),
        "gasLimit": f"0x{preset.gas_limit:X}",
        "difficulty": "0x1",
        "mixHash": IBFT_MIX_HASH,
        "coinbase": "0x0000000000000000000000000000000000000000",
        "alloc": alloc,
    }


def consensus_key(consensus: Consensus) -> str:
    """The key of the consensus section in a genesis ``config`` ("ibft2" or "qbft")."""
    return consensus.value


def _normal_alloc_key(address: str) -> str:
    return "0x" + _address_bytes(address).hex()


def render_genesis(genesis: Mapping[str, Any]) -> str:
    """Serialise a genesis document: two-space indent and a trailing newline, stable for diffs."""
    return json.dumps(genesis, indent=2) + "\n"


def check_published_genesis(preset: NetworkPreset, genesis: Mapping[str, Any]) -> list[str]:
    """Compare a network's published genesis with what the preset says; return the mismatches (empty when it
    matches). A node joining a public network must use the published file byte for byte, so we never rewrite it,
    but a wrong file (another network's) is caught before any node is deployed."""
    problems: list[str] = []
    config = genesis.get("config")
    if not isinstance(config, Mapping):
        return ["has no 'config' object"]
    if preset.chain_id is not None and config.get("chainId") != preset.chain_id:
        problems.append(f"config.chainId is {config.get('chainId')!r}; {preset.name.value} is {preset.chain_id}")
    section = config.get(consensus_key(preset.consensus))
    if not isinstance(section, Mapping):
        problems.append(f"config has no '{consensus_key(preset.consensus)}' section; {preset.name.value} uses it")
    else:
        expected = {
            "blockperiodseconds": preset.block_period_seconds,
            "epochlength": preset.epoch_length,
            "requesttimeoutseconds": preset.request_timeout_seconds,
        }
        for key, value in expected.items():
            if section.get(key) != value:
                problems.append(
                    f"config.{consensus_key(preset.consensus)}.{key} is {section.get(key)!r}, expected {value}"
                )
    extra = genesis.get("extraData")
    if not isinstance(extra, str):
        problems.append("has no extraData")
    else:
        try:
            validators_from_extra_data(preset.consensus, extra)
        except GenesisError as exc:
            problems.append(str(exc))
    return problems
