"""LACChain topology and the member plan: who peers with whom, and the files each node gets."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from lacchain.enode import Enode
from lacchain.errors import InvalidInput
from lacchain.genesis import validators_from_extra_data
from lacchain.keys import NodeKey
from lacchain.network_plan import MemberPlan, NodeIdentity, genesis_text, plan_member
from lacchain.presets import Consensus
from lacchain.roles import Role
from lacchain.stack_config import parse_member_stack
from lacchain.topology import (
    DIALS,
    FULL_MESH_VALIDATORS,
    MAX_BOOTS_DIALLED,
    PEERS,
    RING_CHORDS,
    RING_SUCCESSORS,
    peers_with,
    spread,
    validator_mesh,
)
from tests.unit.stack_documents import valid


def test_topology_is_symmetric() -> None:
    for a in Role:
        for b in Role:
            assert peers_with(a, b) == peers_with(b, a)


def test_lacchain_roles_peer_as_documented() -> None:
    assert PEERS[Role.VALIDATOR] == {Role.VALIDATOR, Role.BOOT}
    assert PEERS[Role.BOOT] == set(Role)
    assert PEERS[Role.WRITER] == {Role.BOOT, Role.WRITER}
    assert PEERS[Role.OBSERVER] == {Role.BOOT}


def identities(stack_doc: dict[str, object]) -> dict[str, NodeIdentity]:
    stack = parse_member_stack(stack_doc)
    return {
        n.name: NodeIdentity(NodeKey.derive_dev_key("test seed", n.name).node_id, f"{n.name}.acme.example.org")
        for n in stack.nodes
    }


@pytest.fixture()
def plans(tmp_path: Path) -> MemberPlan:
    document = valid()
    stack = parse_member_stack(document)
    ids = identities(document)
    return plan_member(stack, ids, genesis_text(stack, ids, tmp_path))


def static_roles(plans: MemberPlan, name: str) -> set[str]:
    hosts = {Enode.parse(e).host.split(".")[0] for e in json.loads(plans[name].files["static-nodes.json"])}
    return {plans[h].node.role.value for h in hosts}


def test_validators_keep_the_validator_mesh_and_others_dial_boots(plans: MemberPlan) -> None:
    assert static_roles(plans, "validator-1") == {"validator", "boot"}
    assert static_roles(plans, "writer-1") == {"boot"}
    assert static_roles(plans, "observer-1") == {"boot"}
    assert static_roles(plans, "boot-1") == set()  # the only boot: everyone dials it
    assert plans["validator-1"].enode not in plans["validator-1"].files["static-nodes.json"]


def test_dialled_nodes_are_always_peers_the_other_side_accepts() -> None:
    for role in Role:
        for other in DIALS[role]:
            assert peers_with(role, other)


def test_files_stay_bounded_as_the_network_grows(tmp_path: Path) -> None:
    def largest_own_file(boots: int) -> int:
        document = valid()
        document["nodes"] += [
            {"name": f"boot-x{i}", "role": "boot", "platform": "kubernetes", "placement": {"namespace": "acme"}}
            for i in range(boots)
        ]
        stack = parse_member_stack(document)
        ids = identities(document)
        member = plan_member(stack, ids, "{}")
        return max(len(text) for plan in member.nodes.values() for text in plan.files.values())

    # 30 more boots would add about 30 enodes (over 5 KB) per file if every node listed every boot.
    assert largest_own_file(40) < largest_own_file(10) + 200


@pytest.mark.parametrize("count", [4, 25, 26, 100, 301])
def test_the_validator_mesh_is_connected_and_bounded(count: int) -> None:
    validators = [f"validator-{i:03d}" for i in range(count)]
    dials = {v: validator_mesh(validators, v) for v in validators}
    assert all(v not in d for v, d in dials.items())
    if count <= FULL_MESH_VALIDATORS:
        assert all(len(d) == count - 1 for d in dials.values())
    else:
        assert all(len(d) == RING_SUCCESSORS + RING_CHORDS for d in dials.values())
    reached, frontier = {validators[0]}, [validators[0]]
    while frontier:
        current = frontier.pop()
        for neighbour in dials[current]:
            if neighbour not in reached:
                reached.add(neighbour)
                frontier.append(neighbour)
    assert reached == set(validators)


def test_boot_load_is_spread() -> None:
    boots = [f"boot-{i}" for i in range(10)]
    chosen = {name: tuple(spread(boots, name, MAX_BOOTS_DIALLED)) for name in (f"writer-{i}" for i in range(40))}
    assert all(len(c) == MAX_BOOTS_DIALLED for c in chosen.values())
    assert len({b for c in chosen.values() for b in c}) == len(boots)
    assert chosen["writer-1"] == tuple(spread(boots, "writer-1", MAX_BOOTS_DIALLED))


def test_generated_genesis_names_exactly_the_validators(plans: MemberPlan) -> None:
    genesis = json.loads(plans.files_of("boot-1")["genesis.json"])
    validators = validators_from_extra_data(Consensus.IBFT2, genesis["extraData"])
    assert sorted(validators) == sorted([plans["validator-1"].address, plans["validator-2"].address])
    assert genesis["config"]["chainId"] == 1337


def test_local_allowlist_holds_every_node_and_is_shared(plans: MemberPlan) -> None:
    allowlist = tomllib.loads(plans.files_of("validator-1")["permissions_config.toml"])["nodes-allowlist"]
    assert sorted(allowlist) == sorted(p.enode for p in plans.nodes.values())
    assert "permissions_config.toml" in plans.shared and "genesis.json" in plans.shared
    assert "genesis.json" not in plans["boot-1"].files


def test_writers_get_their_transaction_manager_config_and_each_other_as_peers(plans: MemberPlan) -> None:
    tessera = json.loads(plans["writer-1"].files["tm/tessera.json"])
    assert tessera["peer"] == [{"url": "https://writer-2.acme.example.org:4040"}]
    assert "tm/orion.conf" in plans["writer-2"].files
    assert not any(k.startswith("tm/") for k in plans["validator-1"].files)
    assert tomllib.loads(plans["writer-1"].files["config.toml"])["privacy-enabled"] is True


def test_boot_nodes_are_everyones_bootnodes(plans: MemberPlan) -> None:
    for name in ("validator-1", "writer-1", "observer-1"):
        assert tomllib.loads(plans[name].files["config.toml"])["bootnodes"] == [plans["boot-1"].enode]
    assert "bootnodes" not in tomllib.loads(plans["boot-1"].files["config.toml"])


def test_missing_identity_is_refused(tmp_path: Path) -> None:
    document = valid()
    stack = parse_member_stack(document)
    ids = identities(document)
    del ids["writer-1"]
    with pytest.raises(InvalidInput, match="writer-1"):
        plan_member(stack, ids, "{}")


def test_published_genesis_file_is_used_byte_for_byte_and_checked(tmp_path: Path) -> None:
    from lacchain.genesis import GenesisSpec, build_genesis, render_genesis
    from lacchain.presets import PresetName, preset

    published = render_genesis(
        build_genesis(preset(PresetName.PRO_TESTNET), GenesisSpec(648539, ("0x" + "11" * 20,)))
    ).replace("\n", "\r\n")
    (tmp_path / "genesis.json").write_text(published, newline="")
    document = valid()
    del document["devKeySeed"]
    document["network"] = {"preset": "lacchain-pro-testnet", "genesisFile": "genesis.json"}
    stack = parse_member_stack(document)
    assert genesis_text(stack, {}, tmp_path).encode() == (tmp_path / "genesis.json").read_bytes()
    assert "\r\n" in genesis_text(stack, {}, tmp_path)

    (tmp_path / "genesis.json").write_text(published.replace("648539", "1"))
    with pytest.raises(InvalidInput, match="chainId"):
        genesis_text(stack, {}, tmp_path)
    (tmp_path / "genesis.json").unlink()
    with pytest.raises(InvalidInput, match="does not exist"):
        genesis_text(stack, {}, tmp_path)
