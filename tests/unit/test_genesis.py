"""Genesis extraData and documents, checked against published vectors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from lacchain.genesis import (
    GenesisError,
    GenesisSpec,
    build_genesis,
    check_published_genesis,
    extra_data,
    render_genesis,
    validators_from_extra_data,
)
from lacchain.keys import to_checksum_address
from lacchain.presets import IBFT_MIX_HASH, Consensus, PresetName, preset

# LACChain's published pro-testnet genesis (lacchain/besu-pro-testnet, roles/lacchain-bootnode/files/genesis.json):
# one validator, IBFT 2.0.
LACCHAIN_VALIDATOR = "0x63949701cd0e1cc04dfea0afbf410968f10ff4b6"
LACCHAIN_EXTRA_DATA = (
    "0xf83ea00000000000000000000000000000000000000000000000000000000000000000"
    "d59463949701cd0e1cc04dfea0afbf410968f10ff4b6808400000000c0"
)
# Besu's IBFT 2.0 tutorial genesis: four validators, in the order the file lists them.
BESU_TUTORIAL_VALIDATORS = [
    "0x8539c5c368dda69bc541299a5293836ca9e3a361",
    "0xb97ccc82acb5d04c557e6363e283e2f0a44c0f8b",
    "0x2e7427a308b7e04f53cbceec3d2a9ff6955b7b45",
    "0xb7108387430622ffebe9c9777bbe5c7d647f9dea",
]
BESU_TUTORIAL_EXTRA_DATA = (
    "0xf87ea00000000000000000000000000000000000000000000000000000000000000000f854"
    "948539c5c368dda69bc541299a5293836ca9e3a36194b97ccc82acb5d04c557e6363e283e2f0a44c0f8b"
    "942e7427a308b7e04f53cbceec3d2a9ff6955b7b4594b7108387430622ffebe9c9777bbe5c7d647f9dea"
    "808400000000c0"
)

addresses = st.lists(st.binary(min_size=20, max_size=20), min_size=1, max_size=30, unique=True).map(
    lambda raw: ["0x" + a.hex() for a in raw]
)


def test_ibft2_extra_data_matches_lacchain_pro_testnet() -> None:
    assert extra_data(Consensus.IBFT2, [LACCHAIN_VALIDATOR]) == LACCHAIN_EXTRA_DATA


def test_ibft2_extra_data_matches_besu_tutorial() -> None:
    assert extra_data(Consensus.IBFT2, BESU_TUTORIAL_VALIDATORS) == BESU_TUTORIAL_EXTRA_DATA


def test_qbft_extra_data_has_empty_vote_list_and_integer_round() -> None:
    # Besu's QBFT docs: 4 validators -> 0xf87a..., ending c0 80 c0 (no vote, round 0, no seals).
    encoded = extra_data(Consensus.QBFT, BESU_TUTORIAL_VALIDATORS)
    assert encoded.startswith("0xf87aa0" + "00" * 32 + "f854")
    assert encoded.endswith("c080c0")
    vanity, validators, vote, round_, seals = rlp.decode(bytes.fromhex(encoded[2:]))
    assert vanity == bytes(32) and vote == [] and round_ == b"" and seals == []
    assert ["0x" + v.hex() for v in validators] == BESU_TUTORIAL_VALIDATORS


@given(addresses, st.sampled_from(list(Consensus)))
def test_validators_round_trip_through_extra_data(validators: list[str], consensus: Consensus) -> None:
    decoded = validators_from_extra_data(consensus, extra_data(consensus, validators))
    assert decoded == [to_checksum_address(v) for v in validators]


@pytest.mark.parametrize("validators", [[], [LACCHAIN_VALIDATOR, LACCHAIN_VALIDATOR], ["0x1234"]])
def test_bad_validator_lists_are_refused(validators: list[str]) -> None:
    with pytest.raises(GenesisError):
        extra_data(Consensus.IBFT2, validators)


def test_generated_genesis_has_the_preset_parameters() -> None:
    chosen = preset(PresetName.PRO_TESTNET)
    document = build_genesis(chosen, GenesisSpec(chain_id=648539, validators=(LACCHAIN_VALIDATOR,)))
    assert document["config"]["chainId"] == 648539
    assert document["config"]["ibft2"] == {"blockperiodseconds": 2, "epochlength": 30000, "requesttimeoutseconds": 4}
    assert document["config"]["contractSizeLimit"] == 2147483647
    assert document["config"]["constantinopleFixBlock"] == 0
    assert document["gasLimit"] == "0x2FEFD800"
    assert document["difficulty"] == "0x1"
    assert document["mixHash"] == IBFT_MIX_HASH
    assert document["extraData"] == LACCHAIN_EXTRA_DATA
    assert json.loads(render_genesis(document)) == document
    assert check_published_genesis(chosen, document) == []


def test_qbft_genesis_uses_the_qbft_section() -> None:
    chosen = replace(preset(PresetName.CUSTOM), consensus=Consensus.QBFT)
    document = build_genesis(chosen, GenesisSpec(chain_id=1337, validators=(LACCHAIN_VALIDATOR,)))
    assert "qbft" in document["config"] and "ibft2" not in document["config"]


def test_a_genesis_of_another_network_is_detected() -> None:
    chosen = preset(PresetName.PRO_TESTNET)
    other = build_genesis(
        replace(chosen, block_period_seconds=5), GenesisSpec(chain_id=1, validators=(LACCHAIN_VALIDATOR,))
    )
    problems = check_published_genesis(chosen, other)
    assert any("chainId" in p for p in problems)
    assert any("blockperiodseconds" in p for p in problems)
