"""Transaction manager keys and configuration files (Orion TOML, Tessera JSON)."""

from __future__ import annotations

import base64
import json
import tomllib

import pytest
from nacl.public import PrivateKey

from lacchain import layout
from lacchain.tm.config import TmSettings, render_orion_config, render_tessera_config, tessera_config
from lacchain.tm.keys import TmKeyError, TmKeyPair, parse_public_key


def test_key_files_round_trip_in_the_orion_tessera_format() -> None:
    pair = TmKeyPair.generate()
    document = json.loads(pair.private_key_file())
    assert document["type"] == "unlocked"
    assert base64.b64decode(document["data"]["bytes"]) == pair.private_key
    assert TmKeyPair.from_private_key_file(pair.private_key_file()) == pair
    assert len(pair.public_key_file()) == 44 and parse_public_key(pair.public_key_file()) == pair.public_key
    pair.check_public_key_file(pair.public_key_file())


def test_public_key_is_the_nacl_box_public_key() -> None:
    pair = TmKeyPair.generate()
    assert pair.public_key == bytes(PrivateKey(pair.private_key).public_key)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not JSON"),
        ('{"type": "argon2sbox", "data": {}}', "not supported"),
        ('{"type": "unlocked", "data": {}}', "data.bytes"),
        ('{"type": "unlocked", "data": {"bytes": "AAAA"}}', "32 bytes"),
    ],
)
def test_unusable_private_key_files_are_refused(text: str, says: str) -> None:
    with pytest.raises(TmKeyError, match=says):
        TmKeyPair.from_private_key_file(text)


def test_mismatched_public_key_is_refused() -> None:
    with pytest.raises(TmKeyError, match="does not belong"):
        TmKeyPair.generate().check_public_key_file(TmKeyPair.generate().public_key_file())


def test_repr_shows_only_the_public_key() -> None:
    pair = TmKeyPair.generate()
    assert pair.private_key_b64 not in repr(pair) and pair.public_key_b64 in repr(pair)


SETTINGS = TmSettings(advertised_host="writer-1.example.org", peers=["https://writer-2.example.org:4040"])


def test_orion_config_uses_strict_ca_tls_and_loopback_client() -> None:
    config = tomllib.loads(render_orion_config(SETTINGS))
    assert config["nodeurl"] == "https://writer-1.example.org:4040/"
    assert config["clienturl"] == f"http://127.0.0.1:{layout.ORION_CLIENT_PORT}/"
    assert config["clientnetworkinterface"] == "127.0.0.1"
    assert config["tls"] == "strict" and config["tlsservertrust"] == "ca" and config["tlsclienttrust"] == "ca"
    assert config["othernodes"] == ["https://writer-2.example.org:4040/"]
    assert config["publickeys"] == [layout.TM_PUBLIC_KEY_FILE]


def test_tessera_runs_in_orion_mode_with_mutual_tls() -> None:
    config = json.loads(render_tessera_config(SETTINGS))
    assert config["mode"] == "orion"
    apps = {s["app"]: s for s in config["serverConfigs"]}
    assert apps["Q2T"]["serverAddress"] == f"http://127.0.0.1:{layout.TESSERA_Q2T_PORT}"
    assert apps["P2P"]["serverAddress"] == "https://writer-1.example.org:4040"
    assert apps["P2P"]["sslConfig"]["tls"] == "STRICT"
    assert apps["P2P"]["sslConfig"]["serverTrustMode"] == apps["P2P"]["sslConfig"]["clientTrustMode"] == "CA"
    assert config["peer"] == [{"url": "https://writer-2.example.org:4040"}]
    key_data = config["keys"]["keyData"][0]
    assert key_data == {"privateKeyPath": layout.TM_PRIVATE_KEY_FILE, "publicKeyPath": layout.TM_PUBLIC_KEY_FILE}


def test_tessera_can_read_keys_from_a_vault_instead_of_files() -> None:
    vault = {"keyVaultConfigs": [{"keyVaultType": "AWS", "properties": {}}], "keyData": []}
    assert tessera_config(TmSettings("10.0.0.1", key_vault=vault))["keys"] == vault


def test_ipv6_hosts_are_bracketed_in_urls() -> None:
    assert json.loads(render_tessera_config(TmSettings("2001:db8::7")))["serverConfigs"][2]["serverAddress"] == (
        "https://[2001:db8::7]:4040"
    )
