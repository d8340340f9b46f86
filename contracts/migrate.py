"""Copy the enodes of an interface-v1 node rules contract into a v2 NodeRules contract.

    python -m contracts.migrate --rpc-url URL --from-v1 0xV1RULES --dry-run
    LACCHAIN_ADMIN_KEY=0x... python -m contracts.migrate --rpc-url URL --from-v1 0xV1RULES
    LACCHAIN_ADMIN_KEY=0x... python -m contracts.migrate --rpc-url URL --from-v1-ingress 0xOLDINGRESS --rules 0xNEW

The v1 list is read with ``getSize()`` / ``getByIndex(i)`` (bytes32 enodeHigh, bytes32 enodeLow, bytes16 ip,
uint16 port: the upstream v1 NodeRules ABI) and decoded with ``lacchain.enode.enode_from_v1``: IPv4-mapped
addresses become dotted IPv4 text, other addresses IPv6 text. The target is the rules contract behind the ingress
(default 0x...9999) or, with ``--rules``, a contract not registered yet (fill it, then switch the ingress).
Idempotent: enodes the target lists already are skipped, so a rerun adds nothing. ``--dry-run`` only prints.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from web3 import Web3

from contracts import RULES_CONTRACT
from contracts.chain import DEFAULT_KEY_ENV, ChainError, account_from_key, call, connect, contract_at, key_from_env
from contracts.node_rules import NodeRulesClient
from lacchain.enode import Enode, EnodeError, enode_from_v1
from lacchain.presets import NODES_INGRESS_ADDRESS


@dataclass
class MigrationReport:
    source: str
    target: str
    dry_run: bool
    read: int = 0
    added: list[Enode] = field(default_factory=list)
    already_listed: list[Enode] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    """v1 entries that are no valid enode (e.g. port 0), with the reason."""

    def summary(self) -> str:
        verb = "would add" if self.dry_run else "added"
        return (
            f"{self.read} v1 enodes read from {self.source}: {verb} {len(self.added)}, "
            f"{len(self.already_listed)} already listed, {len(self.invalid)} invalid (target {self.target})"
        )


def read_v1_enodes(w3: Web3, v1_rules: str) -> tuple[list[Enode], list[str]]:
    """The enodes of a v1 rules contract in list order, and a description of every entry that is not valid."""
    contract = contract_at(w3, "NodeRulesV1", v1_rules)
    size: int = call(contract.functions.getSize(), "v1 NodeRules.getSize")
    enodes, invalid = [], []
    for index in range(size):
        high, low, ip, port = call(contract.functions.getByIndex(index), "v1 NodeRules.getByIndex")
        try:
            enodes.append(enode_from_v1(high, low, ip, port))
        except EnodeError as error:
            invalid.append(f"entry {index} ({(high + low).hex()[:16]}..., ip 0x{ip.hex()}, port {port}): {error}")
    return enodes, invalid


def v1_rules_of(w3: Web3, v1_ingress: str) -> str:
    """The rules contract a (v1 or v2) node ingress has registered under "rules"."""
    ingress = contract_at(w3, "NodeIngress", v1_ingress)
    address: str = call(ingress.functions.getContractAddress(RULES_CONTRACT), "ingress.getContractAddress")
    if int(address, 16) == 0:
        raise ChainError(f"the ingress {v1_ingress} has no rules contract registered")
    return address


def migrate(
    w3: Web3,
    v1_rules: str,
    target: NodeRulesClient,
    dry_run: bool = False,
    echo: Callable[[str], object] = print,
) -> MigrationReport:
    """Add every v1 enode the target does not list yet; with ``dry_run`` only say what would be added."""
    enodes, invalid = read_v1_enodes(w3, v1_rules)
    report = MigrationReport(
        source=Web3.to_checksum_address(v1_rules),
        target=target.rules_address,
        dry_run=dry_run,
        read=len(enodes) + len(invalid),
        invalid=invalid,
    )
    for line in invalid:
        echo(f"skip invalid v1 {line}")
    listed = set(target.list_enodes())
    for enode in enodes:
        if enode in listed:
            report.already_listed.append(enode)
            echo(f"already listed {enode}")
            continue
        if dry_run:
            echo(f"would add {enode}")
        else:
            target.add(enode)
            echo(f"added {enode}")
        listed.add(enode)
        report.added.append(enode)
    echo(report.summary())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.migrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpc-url", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-v1", metavar="ADDRESS", help="the v1 rules contract")
    source.add_argument("--from-v1-ingress", metavar="ADDRESS", help="a v1 ingress: migrate its registered rules")
    parser.add_argument("--ingress", default=NODES_INGRESS_ADDRESS, help="the v2 NodeIngress (default %(default)s)")
    parser.add_argument("--rules", help="a v2 NodeRules contract to fill instead of the ingress's current one")
    parser.add_argument("--dry-run", action="store_true", help="print what would be added; send nothing")
    parser.add_argument(
        "--key-env", default=DEFAULT_KEY_ENV, help=f"variable holding the private key ({DEFAULT_KEY_ENV})"
    )
    args = parser.parse_args(argv)
    try:
        w3 = connect(args.rpc_url)
        account = None if args.dry_run else account_from_key(key_from_env(args.key_env))
        target = NodeRulesClient(w3, args.ingress, account, rules=args.rules)
        v1_rules = args.from_v1 or v1_rules_of(w3, args.from_v1_ingress)
        report = migrate(w3, v1_rules, target, dry_run=args.dry_run)
    except ChainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 1 if report.invalid else 0


if __name__ == "__main__":
    sys.exit(main())
