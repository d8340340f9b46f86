"""Deploy the node permissioning contracts (Admin, NodeIngress, NodeRules) to a JSON-RPC endpoint.

    LACCHAIN_ADMIN_KEY=0x... python -m contracts.deploy --rpc-url http://127.0.0.1:4545
    LACCHAIN_ADMIN_KEY=0x... python -m contracts.deploy --rpc-url URL --ingress 0x0000000000000000000000000000000000009999

Without ``--ingress`` a full set is deployed (the deploying account becomes the first admin) and the ingress is
wired to the rules contract. With ``--ingress`` (a network whose genesis already holds the ingress, see
``contracts.genesis_alloc``) only a NodeRules contract is deployed and registered in that ingress; the account must
be an admin there. Prints the addresses as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from contracts import ADMIN_CONTRACT, RULES_CONTRACT
from contracts.chain import (
    DEFAULT_KEY_ENV,
    ChainError,
    account_from_key,
    call,
    connect,
    contract_at,
    deploy_contract,
    key_from_env,
    transact,
)


@dataclass(frozen=True)
class Deployment:
    """Checksum addresses of one node permissioning set."""

    ingress: str
    rules: str
    admin: str


def deploy(w3: Web3, account: LocalAccount) -> Deployment:
    """Deploy Admin (``account`` its first admin), NodeIngress and NodeRules; register the rules in the ingress."""
    admin = deploy_contract(w3, account, "Admin", account.address)
    ingress = deploy_contract(w3, account, "NodeIngress", admin)
    rules = deploy_rules(w3, account, ingress)
    return Deployment(ingress=ingress, rules=rules, admin=admin)


def deploy_rules(w3: Web3, account: LocalAccount, ingress: str, register: bool = True) -> str:
    """Deploy a NodeRules contract governed by ``ingress``; register it there as "rules" unless ``register`` is
    false (e.g. to fill it by a migration first and switch the ingress to it afterwards)."""
    ingress_contract = contract_at(w3, "NodeIngress", ingress)
    if not call(ingress_contract.functions.isAuthorized(account.address), "NodeIngress.isAuthorized"):
        raise ChainError(f"account {account.address} is not an admin of the node ingress {ingress}")
    rules = deploy_contract(w3, account, "NodeRules", Web3.to_checksum_address(ingress))
    if register:
        register_rules(w3, account, ingress, rules)
    return rules


def register_rules(w3: Web3, account: LocalAccount, ingress: str, rules: str) -> TxReceipt:
    """Make ``rules`` the contract the ingress forwards ``connectionAllowed`` to."""
    ingress_contract = contract_at(w3, "NodeIngress", ingress)
    return transact(
        w3,
        account,
        ingress_contract.functions.setContractAddress(RULES_CONTRACT, rules),
        "registering the rules contract in the ingress",
    )


def lookup(w3: Web3, ingress: str) -> Deployment:
    """The rules and admin contracts an ingress currently uses."""
    ingress_contract = contract_at(w3, "NodeIngress", ingress)
    rules = call(ingress_contract.functions.getContractAddress(RULES_CONTRACT), "NodeIngress.getContractAddress")
    admin = call(ingress_contract.functions.getContractAddress(ADMIN_CONTRACT), "NodeIngress.getContractAddress")
    return Deployment(ingress=Web3.to_checksum_address(ingress), rules=rules, admin=admin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpc-url", required=True, help="JSON-RPC endpoint, e.g. http://127.0.0.1:4545")
    parser.add_argument("--ingress", help="existing NodeIngress: deploy and register only a NodeRules contract")
    parser.add_argument("--no-register", action="store_true", help="with --ingress: deploy the rules, don't switch")
    parser.add_argument(
        "--key-env", default=DEFAULT_KEY_ENV, help=f"variable holding the private key ({DEFAULT_KEY_ENV})"
    )
    args = parser.parse_args(argv)
    try:
        w3 = connect(args.rpc_url)
        account = account_from_key(key_from_env(args.key_env))
        if args.ingress:
            rules = deploy_rules(w3, account, args.ingress, register=not args.no_register)
            result = asdict(lookup(w3, args.ingress)) | {"rules": rules}
        else:
            result = asdict(deploy(w3, account))
    except ChainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
