"""Genesis alloc: storage computed from the layouts equals what deployed contracts hold, and contracts placed with
anvil_setCode/anvil_setStorageAt behave like deployed ones (as in a genesis, no constructor runs)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint

from contracts import ADMIN_CONTRACT, RULES_CONTRACT, load_artifact
from contracts.chain import TransactionReverted, contract_at, deploy_contract, transact
from contracts.deploy import deploy, deploy_rules
from contracts.genesis_alloc import (
    NODES_ADMIN_ADDRESS,
    NODES_RULES_ADDRESS,
    GenesisAllocError,
    main,
    node_permissioning_alloc,
)
from contracts.node_rules import NodeRulesClient, NotAdminError
from contracts.storage import StorageEncoder, StorageLayoutError
from lacchain.enode import Enode
from lacchain.presets import NODES_INGRESS_ADDRESS
from tests.contracts.conftest import dev_account, random_enode

pytestmark = pytest.mark.slow


def assert_storage_matches(w3: Web3, address: str, storage: dict[str, str]) -> None:
    assert storage, "nothing to compare"
    for slot, word in storage.items():
        on_chain = w3.eth.get_storage_at(Web3.to_checksum_address(address), int(slot, 16))
        assert "0x" + on_chain.hex() == word, f"{address} slot {slot}"


def v1_key(enode: Enode) -> int:
    """NodeRulesV1's index key: uint256(keccak256(abi.encodePacked(enodeHigh, enodeLow, ip, port)))."""
    return int.from_bytes(Web3.solidity_keccak(["bytes32", "bytes32", "bytes16", "uint16"], enode.permissioning_v1()))


def place(w3: Web3, alloc: dict[str, dict[str, Any]]) -> None:
    """Put alloc entries on anvil the way a genesis does: code and storage, no constructor."""
    for address, entry in alloc.items():
        assert "error" not in w3.provider.make_request(RPCEndpoint("anvil_setCode"), [address, entry["code"]])
        for slot, word in entry["storage"].items():
            assert "error" not in w3.provider.make_request(RPCEndpoint("anvil_setStorageAt"), [address, slot, word])


def test_alloc_storage_equals_a_deployed_set(w3: Web3, admin: LocalAccount) -> None:
    deployment = deploy(w3, admin)
    client = NodeRulesClient(w3, deployment.ingress, admin)
    added = [random_enode("10.1.2.3"), random_enode("2001:db8::5"), random_enode("a-long-name." * 8 + "example")]
    for enode in [*added, random_enode("gone.example.org")]:
        client.add(enode)
    client.remove(client.list_enodes()[-1])
    client.update(added[0], added[0].with_host("10.1.2.4", 30303))
    second_admin = dev_account(3)
    transact(w3, admin, contract_at(w3, "Admin", deployment.admin).functions.addAdmin(second_admin.address), "admin")

    alloc = node_permissioning_alloc(
        [admin.address, second_admin.address],
        client.list_enodes(),
        ingress_address=deployment.ingress,
        admin_address=deployment.admin,
        rules_address=deployment.rules,
    )
    assert set(alloc) == {deployment.ingress, deployment.admin, deployment.rules}
    for address, entry in alloc.items():
        assert (
            "0x" + w3.eth.get_code(Web3.to_checksum_address(address)).hex() == entry["code"]
        )  # runtime code == deployedBytecode
        assert_storage_matches(w3, address, entry["storage"])


def test_encoder_packs_like_the_compiler(w3: Web3, admin: LocalAccount) -> None:
    """NodeRulesV1 packs bytes16 ip and uint16 port into one slot of its struct."""
    v1 = contract_at(w3, "NodeRulesV1", deploy_contract(w3, admin, "NodeRulesV1"))
    entries = [random_enode("192.0.2.1", 30303), random_enode("2001:db8::1", 65535)]
    for enode in entries:
        transact(w3, admin, v1.functions.addEnode(*enode.permissioning_v1()), "add v1")
    values = {
        "owner": admin.address,
        "allowlist": [
            dict(zip(("enodeHigh", "enodeLow", "ip", "port"), e.permissioning_v1(), strict=True)) for e in entries
        ],
        "indexOf": {v1_key(e): i + 1 for i, e in enumerate(entries)},
    }
    slots = StorageEncoder(load_artifact("NodeRulesV1")["storageLayout"], "NodeRulesV1").encode(values)
    assert_storage_matches(w3, v1.address, {f"0x{s:064x}": f"0x{v:064x}" for s, v in slots.items()})


def test_alloc_placed_at_9999_behaves_like_a_deployed_ingress(
    w3: Web3, admin: LocalAccount, outsider: LocalAccount
) -> None:
    genesis_admin = dev_account(2)
    boot = random_enode("boot1.lacchain.example.org")
    validator = random_enode("2001:db8::77")
    alloc = node_permissioning_alloc([genesis_admin.address], [boot, validator])
    assert set(alloc) == {
        Web3.to_checksum_address(a) for a in (NODES_INGRESS_ADDRESS, NODES_ADMIN_ADDRESS, NODES_RULES_ADDRESS)
    }
    place(w3, alloc)

    ingress = contract_at(w3, "NodeIngress", NODES_INGRESS_ADDRESS)
    assert ingress.functions.getContractAddress(ADMIN_CONTRACT).call() == Web3.to_checksum_address(NODES_ADMIN_ADDRESS)
    assert ingress.functions.getContractAddress(RULES_CONTRACT).call() == Web3.to_checksum_address(NODES_RULES_ADDRESS)
    assert ingress.functions.getAllContractKeys().call() == [ADMIN_CONTRACT, RULES_CONTRACT]
    assert ingress.functions.isAuthorized(genesis_admin.address).call() is True
    assert ingress.functions.isAuthorized(admin.address).call() is False
    assert contract_at(w3, "NodeRules", NODES_RULES_ADDRESS).functions.getIngress().call() == Web3.to_checksum_address(
        NODES_INGRESS_ADDRESS
    )

    # connectionAllowed answers from block 0 for the initial enodes.
    reader = NodeRulesClient(w3)  # default ingress address: 0x...9999
    assert reader.list_enodes() == [boot, validator]
    assert reader.is_allowed(boot) and reader.is_allowed(validator)
    assert not reader.is_allowed(random_enode("boot1.lacchain.example.org"))

    # The genesis admin manages nodes; others are refused.
    client = NodeRulesClient(w3, account=genesis_admin)
    writer = random_enode("writer1.member.example.org")
    client.add(writer)
    assert reader.is_allowed(writer)
    client.remove(boot)
    assert not reader.is_allowed(boot)
    with pytest.raises(NotAdminError):
        NodeRulesClient(w3, account=outsider).add(random_enode())
    with pytest.raises(TransactionReverted, match="NodeRules: sender is not an admin"):
        transact(w3, outsider, client.rules.functions.addEnode(*random_enode().permissioning_v2()), "outsider")

    # The genesis admin can add an admin and replace the rules contract.
    admins = contract_at(w3, "Admin", NODES_ADMIN_ADDRESS)
    transact(w3, genesis_admin, admins.functions.addAdmin(admin.address), "add admin")
    new_rules = deploy_rules(w3, admin, NODES_INGRESS_ADDRESS)
    assert reader.rules_address == new_rules
    assert not reader.is_allowed(validator)  # the new list is empty
    NodeRulesClient(w3, account=admin).add(validator)
    assert reader.is_allowed(validator)


def test_alloc_without_rules_refuses_until_rules_are_registered(w3: Web3, admin: LocalAccount) -> None:
    ingress_address = "0x000000000000000000000000000000000000a999"
    admin_address = "0x000000000000000000000000000000000000a998"
    alloc = node_permissioning_alloc(
        [admin.address], include_rules=False, ingress_address=ingress_address, admin_address=admin_address
    )
    assert len(alloc) == 2
    place(w3, alloc)
    enode = random_enode()
    ingress = contract_at(w3, "NodeIngress", ingress_address)
    assert ingress.functions.connectionAllowed(*enode.permissioning_v2()).call() is False
    deploy_rules(w3, admin, ingress_address)
    NodeRulesClient(w3, ingress_address, admin).add(enode)
    assert ingress.functions.connectionAllowed(*enode.permissioning_v2()).call() is True


def test_alloc_refuses_inputs_that_cannot_work() -> None:
    with pytest.raises(GenesisAllocError, match="at least one initial admin"):
        node_permissioning_alloc([])
    with pytest.raises(GenesisAllocError, match="listed twice"):
        node_permissioning_alloc([dev_account(0).address] * 2)
    enode = random_enode()
    with pytest.raises(GenesisAllocError, match="is listed twice"):
        node_permissioning_alloc([dev_account(0).address], [enode, Enode.of(enode.node_id, enode.host.upper(), 60606)])
    with pytest.raises(GenesisAllocError, match="need the rules contract"):
        node_permissioning_alloc([dev_account(0).address], [enode], include_rules=False)
    with pytest.raises(GenesisAllocError, match="not an address"):
        node_permissioning_alloc(["0x1234"])


def test_encoder_refuses_missing_and_unknown_variables() -> None:
    encoder = StorageEncoder(load_artifact("Admin")["storageLayout"], "Admin")
    with pytest.raises(StorageLayoutError, match=r"no value given for Admin\.indexOf"):
        encoder.encode({"admins": []})
    with pytest.raises(StorageLayoutError, match="Admin has no state variable 'owner'"):
        encoder.encode({"admins": [], "indexOf": {}, "owner": "0x" + "00" * 20})


def test_cli_prints_alloc_json(capsys: pytest.CaptureFixture[str]) -> None:
    enode = random_enode("boot.example.org")
    assert main(["--admin", dev_account(0).address, "--enode", enode.url]) == 0
    alloc = json.loads(capsys.readouterr().out)
    ingress = alloc[Web3.to_checksum_address(NODES_INGRESS_ADDRESS)]
    assert ingress["code"] == load_artifact("NodeIngress")["deployedBytecode"]
    assert all(len(k) == 66 and len(v) == 66 for k, v in ingress["storage"].items())
