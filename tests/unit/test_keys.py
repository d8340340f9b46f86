"""Node keys: the well-known Besu dev key vector, signatures, files, and a cross-check against eth-keys."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from eth_keys import keys as eth_keys
from hypothesis import given
from hypothesis import strategies as st

from lacchain.keys import SECP256K1_ORDER, NodeKey, NodeKeyError, address_of_node_id, recover_node_id

BESU_DEV_KEY = "8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63"
BESU_DEV_ADDRESS = "0xFE3B557E8Fb62b89F4916B721be55cEb828dBd73"

private_keys = st.integers(min_value=1, max_value=SECP256K1_ORDER - 1).map(lambda n: n.to_bytes(32, "big"))


def test_besu_dev_key_has_its_published_address() -> None:
    key = NodeKey.from_hex(BESU_DEV_KEY)
    assert key.address == BESU_DEV_ADDRESS
    assert address_of_node_id(key.node_id) == BESU_DEV_ADDRESS


@given(private_keys)
def test_node_id_and_address_match_eth_keys(raw: bytes) -> None:
    key = NodeKey(raw)
    reference = eth_keys.PrivateKey(raw)
    assert key.node_id == reference.public_key.to_bytes().hex()
    assert key.address == reference.public_key.to_checksum_address()


@given(private_keys, st.binary(min_size=32, max_size=32))
def test_signature_recovers_the_signer(raw: bytes, digest: bytes) -> None:
    key = NodeKey(raw)
    assert recover_node_id(digest, key.sign_recoverable(digest)) == key.node_id


@pytest.mark.parametrize(
    "text",
    ["", "0x1234", "zz" * 32, "0x" + "00" * 32, "0x" + f"{SECP256K1_ORDER:064x}"],
    ids=["empty", "short", "not-hex", "zero", "order"],
)
def test_invalid_private_keys_are_refused(text: str) -> None:
    with pytest.raises(NodeKeyError):
        NodeKey.from_hex(text)


def test_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    key = NodeKey.from_hex(BESU_DEV_KEY)
    key_path, pub_path = key.write(tmp_path / "node")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert NodeKey.load(key_path) == key
    assert pub_path.read_text() == "0x" + key.node_id
    with pytest.raises(FileExistsError):
        NodeKey.generate().write(tmp_path / "node")
    assert NodeKey.load(key_path) == key


def test_repr_does_not_reveal_the_private_key() -> None:
    key = NodeKey.from_hex(BESU_DEV_KEY)
    assert BESU_DEV_KEY not in repr(key) and BESU_DEV_KEY not in str(key)


def test_dev_keys_are_deterministic_per_seed_and_name() -> None:
    assert NodeKey.derive_dev_key("seed", "v1") == NodeKey.derive_dev_key("seed", "v1")
    assert NodeKey.derive_dev_key("seed", "v1") != NodeKey.derive_dev_key("seed", "v2")
    assert NodeKey.derive_dev_key("seed", "v1") != NodeKey.derive_dev_key("other", "v1")
