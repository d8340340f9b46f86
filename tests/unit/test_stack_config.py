"""The member stack schema: every bad stack file is refused with the field, the bad value and the fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lacchain.errors import InvalidInput
from lacchain.stack_config import json_schema, parse_member_stack
from tests.unit.stack_documents import valid


def problems_of(document: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_member_stack(document)
    return str(caught.value)


def test_the_valid_document_parses() -> None:
    stack = parse_member_stack(valid())
    assert stack.member == "acme" and len(stack.nodes) == 6


def mutate(path: str, value: Any) -> dict[str, Any]:
    document = valid()
    cursor: Any = document
    keys = path.split(".")
    for key in keys[:-1]:
        cursor = cursor[int(key)] if key.isdigit() else cursor[key]
    last = keys[-1]
    if value is DELETE:
        del cursor[last]
    else:
        cursor[int(last) if last.isdigit() else last] = value
    return document


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("nodes.0.rolee", "validator", ["nodes[0] (validator-1).rolee", "unknown key"]),
        ("nodes.0.role", "miner", ["nodes[0] (validator-1).role", "'miner' is not allowed", "'validator'"]),
        ("nodes.0.platform", "azure", ["nodes[0] (validator-1).platform", "'azure'"]),
        ("nodes.1.name", "validator-1", ["duplicate node names validator-1"]),
        ("nodes.0.name", "Validator_1", ["nodes[0]", "not a DNS label"]),
        ("nodes.0.diskGb", 10, ["diskGb 10 is below the 50 GiB a validator needs"]),
        ("nodes.0.transactionManager", "tessera", ["transactionManager tessera on a validator"]),
        ("nodes.3.besuVersion", "25.12.0", ["needs privacy", "besuVersion 24.12.2"]),
        ("nodes.3.besuVersion", "23.1.0", ["not a supported Besu version"]),
        ("nodes.3.rpcAllowedCidrs", ["0.0.0.0/0"], ["whole Internet"]),
        ("nodes.3.rpcAllowedCidrs", ["10.0.0.1/8"], ["not a CIDR block"]),
        ("nodes.0.rpcAllowedCidrs", ["10.0.0.0/8"], ["validators expose no RPC"]),
        ("nodes.0.placement", {}, ["placement.namespace required for platform kubernetes"]),
        ("nodes.0.placement", {"namespace": "a", "region": "us-east-1"}, ["placement.region not used"]),
        ("nodes.0.machineImage", "ami-123", ["machineImage on kubernetes"]),
        ("network.chainId", DELETE, ["chainId required"]),
        ("network.bootnodes", ["enode://nope"], ["network.bootnodes", "no node id"]),
        ("network.preset", "lacchain-pro-testnet", ["genesisFile required"]),
        ("network.permissioning.mode", "onchain", ["permissioning.admins required"]),
        ("member", DELETE, ["lacchain-cloud:member", "required but missing"]),
        ("nodes", [], ["nodes", "at least 1"]),
    ],
)
def test_bad_values_name_the_field_and_the_fix(path: str, value: Any, expected: list[str]) -> None:
    message = problems_of(mutate(path, value))
    for fragment in expected:
        assert fragment in message


def test_onchain_permissioning_needs_besu_24_12() -> None:
    document = valid()
    document["network"]["permissioning"] = {"mode": "onchain", "contractVersion": 2, "admins": ["0x" + "11" * 20]}
    document["nodes"][0]["besuVersion"] = "25.12.0"
    assert "onchain permissioning needs Besu 24.12.2" in problems_of(document)


def test_dev_keys_are_refused_on_lacchain_networks() -> None:
    document = valid()
    document["network"] = {"preset": "lacchain-pro-testnet", "genesisFile": "g.json"}
    assert "devKeySeed on lacchain-pro-testnet" in problems_of(document)


def test_a_private_key_value_is_never_echoed() -> None:
    document = valid()
    document["nodeKeys"] = {"validator-1": "not-a-key-but-secret-looking"}
    message = problems_of(document)
    assert "not-a-key-but-secret-looking" not in message and "lacchain keys new" in message


def test_all_problems_are_reported_at_once() -> None:
    document = valid()
    document["nodes"][0]["role"] = "miner"
    document["nodes"][1]["platform"] = "azure"
    with pytest.raises(InvalidInput) as caught:
        parse_member_stack(document)
    assert len(caught.value.problems) >= 2


def test_json_schema_describes_the_stack_file() -> None:
    schema = json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"member", "network", "nodes"} <= set(schema["properties"])
    json.dumps(schema)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["member", "network", "nodes", "nodeKeys", "tags", "registry", "extra"]), json_values)
def test_any_value_anywhere_is_accepted_or_refused_cleanly(key: str, value: Any) -> None:
    document = valid()
    document[key] = value
    try:
        parse_member_stack(document)
    except InvalidInput as exc:
        assert exc.problems and all(p.field for p in exc.problems)


def test_size_defaults_follow_the_role_and_an_explicit_size_wins() -> None:
    sizes = {n.name: n.size.value for n in parse_member_stack(valid()).nodes}
    assert sizes["validator-1"] == sizes["writer-1"] == "medium"
    assert sizes["boot-1"] == sizes["observer-1"] == "small"
    document = valid()
    document["nodes"][2]["size"] = "xlarge"
    assert parse_member_stack(document).nodes[2].size.value == "xlarge"
