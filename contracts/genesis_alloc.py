"""Genesis ``alloc`` entries that put node permissioning in place from block 0.

LACChain's genesis files carry the permissioning ingress contracts in ``alloc`` (runtime code and storage, no
constructor runs): the node ingress at 0x0000000000000000000000000000000000009999. This module builds those
entries for the v2 contracts of this package:

- ``NodeIngress`` at 0x...9999, its registry pointing at the two contracts below;
- ``Admin`` at 0x...9998 holding the initial admin accounts;
- ``NodeRules`` at 0x...9997 (optional) bound to the ingress and holding the initial enodes, so the first
  validators and boot nodes may connect before any transaction is made.

Storage slots are computed from each artifact's ``storageLayout`` (``contracts.storage``), with the same values
the constructors and ``addEnode`` would store; ``tests/contracts`` checks them slot by slot against a normal
deployment. The runtime code is the artifact's ``deployedBytecode``; the contracts use no immutables (which would
live in the code, not in storage), and this is checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from contracts import ADMIN_CONTRACT, RULES_CONTRACT, load_artifact
from contracts.storage import StorageEncoder, storage_hex
from lacchain.enode import Enode
from lacchain.presets import NODES_INGRESS_ADDRESS

NODES_ADMIN_ADDRESS = "0x0000000000000000000000000000000000009998"
NODES_RULES_ADDRESS = "0x0000000000000000000000000000000000009997"


class GenesisAllocError(ValueError):
    """Inputs that cannot make a working genesis (no admin, bad address, duplicate enode)."""


def enode_key(enode: Enode) -> bytes:
    """The NodeRules index key of an enode: keccak256(abi.encode(enodeId, host, port)) of its normal form."""
    node_id, host, port = enode.permissioning_v2()
    return keccak(encode(["string", "string", "uint16"], [node_id, host, port]))


def contract_alloc(name: str, values: dict[str, Any], comment: str) -> dict[str, Any]:
    """One alloc entry: the contract's runtime code and the storage encoded from ``values`` by its layout."""
    artifact = load_artifact(name)
    if artifact.get("immutableReferences"):
        raise GenesisAllocError(f"{name} has immutables, which a genesis alloc cannot set: use storage variables")
    slots = StorageEncoder(artifact["storageLayout"], name).encode(values)
    return {"comment": comment, "balance": "0x0", "code": artifact["deployedBytecode"], "storage": storage_hex(slots)}


def node_permissioning_alloc(
    admins: Sequence[str],
    enodes: Iterable[Enode] = (),
    *,
    include_rules: bool = True,
    ingress_address: str = NODES_INGRESS_ADDRESS,
    admin_address: str = NODES_ADMIN_ADDRESS,
    rules_address: str = NODES_RULES_ADDRESS,
) -> dict[str, dict[str, Any]]:
    """``alloc`` entries (address -> {comment, balance, code, storage}) for the node permissioning contracts.

    ``admins`` become the admin list (at least one). ``enodes`` are listed in the rules contract, in order; they
    need ``include_rules`` (without a rules contract the ingress refuses every connection until an admin deploys
    and registers one).
    """
    admin_list = [_address(a, "admin") for a in admins]
    if not admin_list:
        raise GenesisAllocError("give at least one initial admin account: nobody could manage the allowlists")
    if len(set(admin_list)) != len(admin_list):
        raise GenesisAllocError("an admin account is listed twice")
    ingress, admin, rules = (
        _address(a, what)
        for a, what in (
            (ingress_address, "ingress"),
            (admin_address, "admin contract"),
            (rules_address, "rules contract"),
        )
    )
    if len({ingress, admin, rules}) != 3:
        raise GenesisAllocError("the ingress, admin and rules contracts need three different addresses")
    enode_list = list(enodes)
    if enode_list and not include_rules:
        raise GenesisAllocError("initial enodes need the rules contract (include_rules=True)")

    registry = {ADMIN_CONTRACT: admin}
    keys = [ADMIN_CONTRACT]
    if include_rules:
        registry[RULES_CONTRACT] = rules
        keys.append(RULES_CONTRACT)
    alloc = {
        ingress: contract_alloc(
            "NodeIngress",
            {"registry": registry, "contractKeys": keys},
            "Node permissioning ingress (Besu --permissions-nodes-contract-address, version 2)",
        ),
        admin: contract_alloc(
            "Admin",
            {"admins": admin_list, "indexOf": {a: i + 1 for i, a in enumerate(admin_list)}},
            "Node permissioning admins",
        ),
    }
    if include_rules:
        entries, index = [], {}
        for position, enode in enumerate(enode_list, start=1):
            key = enode_key(enode)
            if key in index:
                raise GenesisAllocError(f"enode {enode} is listed twice")
            index[key] = position
            node_id, host, port = enode.permissioning_v2()
            entries.append({"enodeId": node_id, "host": host, "port": port})
        alloc[rules] = contract_alloc(
            "NodeRules",
            {"ingress": ingress, "enodes": entries, "indexOf": index},
            "Node permissioning rules (enode id, host, port)",
        )
    return alloc


def _address(value: str, what: str) -> str:
    try:
        return to_checksum_address(value)
    except ValueError:
        raise GenesisAllocError(f"{what} {value!r} is not an address") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.genesis_alloc",
        description="Print the genesis alloc entries of the node permissioning contracts.",
    )
    parser.add_argument("--admin", action="append", required=True, help="initial admin account (repeatable)")
    parser.add_argument("--enode", action="append", default=[], help="initially allowed enode URL (repeatable)")
    parser.add_argument("--no-rules", action="store_true", help="leave the rules contract out")
    args = parser.parse_args(argv)
    try:
        alloc = node_permissioning_alloc(
            args.admin, [Enode.parse(url) for url in args.enode], include_rules=not args.no_rules
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(alloc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
