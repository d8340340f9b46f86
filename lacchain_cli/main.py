"""The ``lacchain`` command: keys, genesis, schema, synth and diff.

Every command that reads user input refuses bad input with the field, the problem and the fix, and exits with
status 2; nothing is written in that case.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lacchain.enode import Enode, EnodeError
from lacchain.errors import InvalidInput, LacchainError
from lacchain.genesis import GenesisSpec, build_genesis, render_genesis
from lacchain.keys import NodeKey
from lacchain.presets import Consensus, PresetName, preset
from lacchain.stack_config import (
    json_schema,
    parse_member_stack,
    read_stack_file,
    refuse_encrypted,
    stack_file_json_schema,
)

app = typer.Typer(help="LACChain nodes on AWS, GCP or Kubernetes: keys, genesis, offline synth and plan diffs.")
keys_app = typer.Typer(help="Besu node keys (secp256k1): create, inspect.")
app.add_typer(keys_app, name="keys")
out = Console()
err = Console(stderr=True)


def fail(exc: Exception) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(2)


@keys_app.command("new")
def keys_new(out_dir: Annotated[Path, typer.Option("--out", help="Directory for `key` and `key.pub`")]) -> None:
    """Create a node key: DIR/key (private, mode 0600) and DIR/key.pub. Refuses to overwrite an existing key."""
    key = NodeKey.generate()
    try:
        key.write(out_dir)
    except FileExistsError as exc:
        raise fail(exc) from None
    out.print(f"node id  {key.node_id}\naddress  {key.address}\nkey file {out_dir / 'key'} (keep it secret)")


@keys_app.command("inspect")
def keys_inspect(
    key_file: Annotated[Path, typer.Argument(help="A Besu `key` file (0x + 64 hex digits)")],
    host: Annotated[str | None, typer.Option(help="Host for the enode URL (IP or DNS name)")] = None,
    port: Annotated[int, typer.Option(help="TCP p2p port")] = 60606,
) -> None:
    """Print a key's node id, validator address and (with --host) enode URL. Never prints the private key."""
    try:
        key = NodeKey.load(key_file)
        enode = Enode.of(key.node_id, host, port).url if host else None
    except (OSError, LacchainError, EnodeError) as exc:
        raise fail(exc) from None
    out.print(f"node id  {key.node_id}\naddress  {key.address}", highlight=False)
    if enode:
        out.print(f"enode    {enode}", highlight=False, soft_wrap=True)


@keys_app.command("rotate", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def keys_rotate(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="The node whose transaction-manager key to rotate (for messages)")],
    keep: Annotated[int | None, typer.Option(help="Previous versions to keep (default: all of them)")] = None,
) -> None:
    """Give a writer's transaction manager a new key pair, keeping every old one readable.

    Takes the key agent's own store options (``--backend``, ``--secret`` and the platform's flags, or the
    ``LACCHAIN_KEYAGENT_*`` variables of the node's ``agentEnv`` output), and runs with your credentials. Prints
    the old and new public keys: announce the new privacy address to the member's counterparties; payloads sent to
    the old key stay decryptable. Restart the node's transaction manager (its key agent writes every version).
    """
    import os

    from services.keyagent.build import build
    from services.keyagent.cli import parse_config
    from services.keyagent.errors import KeyAgentError
    from services.keyagent.rotate import rotate

    try:
        config = parse_config(ctx.args, os.environ)
        result = rotate(build(config).store, keep=keep)
    except (InvalidInput, KeyAgentError) as exc:
        raise fail(exc) from None
    out.print(
        f"{node}: new key version {result.versions}\n"
        f"old public key  {result.old_public_key}\nnew public key  {result.new_public_key}",
        highlight=False,
    )


@app.command("genesis")
def genesis(
    validators: Annotated[str, typer.Option(help="Comma-separated validator addresses (0x...)")],
    consensus: Annotated[Consensus, typer.Option(help="ibft2 (LACChain) or qbft")] = Consensus.IBFT2,
    chain_id: Annotated[int | None, typer.Option(help="Chain id (required unless the preset fixes one)")] = None,
    preset_name: Annotated[
        PresetName, typer.Option("--preset", help="Consensus parameters to use")
    ] = PresetName.CUSTOM,
) -> None:
    """Print a genesis JSON for a new network with the given validators."""
    from dataclasses import replace

    chosen = replace(preset(preset_name), consensus=consensus)
    chain = chain_id or chosen.chain_id
    if chain is None:
        raise fail(InvalidInput.single("--chain-id", "required for a custom network", "e.g. --chain-id 1337"))
    addresses = [v.strip() for v in validators.split(",") if v.strip()]
    try:
        document = build_genesis(chosen, GenesisSpec(chain_id=chain, validators=tuple(addresses)))
    except LacchainError as exc:
        raise fail(exc) from None
    sys.stdout.write(render_genesis(document))


@app.command("schema")
def schema(
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to a file instead of stdout")] = None,
    stack_file: Annotated[
        bool, typer.Option(help="Schema of a whole stacks/Pulumi.<stack>.yaml instead of the config document")
    ] = False,
) -> None:
    """The JSON Schema of a member stack's `lacchain-cloud:` configuration (for editors)."""
    text = json.dumps(stack_file_json_schema() if stack_file else json_schema(), indent=2) + "\n"
    if out_file:
        out_file.write_text(text)
    else:
        sys.stdout.write(text)


def _stack_document(project_dir: Path, stack: str, node_keys: Path | None) -> dict[str, object]:
    path = project_dir / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (project_dir / "stacks").glob("Pulumi.*.yaml")
        )
        raise InvalidInput.single("--stack", f"no stack file {path}", f"use one of: {', '.join(known) or '(none)'}")
    document = read_stack_file(path)
    if node_keys is not None:
        keys = dict(document.get("nodeKeys") or {})  # type: ignore[call-overload]
        for key_file in sorted(node_keys.glob("*/key")):
            keys[key_file.parent.name] = NodeKey.load(key_file).hex
        document["nodeKeys"] = keys
    refuse_encrypted(document, str(path))
    parse_member_stack(document, source=str(path))  # refuse a bad stack file before running anything
    return document


@app.command("synth")
def synth(
    stack: Annotated[str, typer.Option(help="Stack name: stacks/Pulumi.<stack>.yaml")] = "local",
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory")] = Path("out/synth"),
    project_dir: Annotated[Path, typer.Option(help="Project root (holds stacks/ and genesis files)")] = Path("."),
    node_keys: Annotated[
        Path | None, typer.Option(help="Directory with <node>/key files, for stacks whose nodeKeys are encrypted")
    ] = None,
) -> None:
    """Run the member program offline under Pulumi's mocks; write plan.json, plan.txt and each node's artifacts."""
    import pulumi

    from components.member import member_program
    from lacchain_cli.synth import run_program, write_output

    root = project_dir.resolve()
    try:
        document = _stack_document(root, stack, node_keys)
        result = run_program(stack, document, lambda: member_program(root))
    except (InvalidInput, pulumi.RunError) as exc:
        raise fail(exc) from None
    member = str(document["member"])
    write_output(result, out_dir, member)
    nodes = result.outputs.get("nodes") or {}
    out.print(f"[bold]{stack}[/]: {len(result.resources)} resources, {len(nodes)} nodes -> {out_dir}")
    for name, facts in sorted(nodes.items()):
        out.print(
            f"  {name:<16} {facts['role']:<9} {facts['platform']:<10} {facts['enode']}", highlight=False, soft_wrap=True
        )


@app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(help="Synth output directory before the change")],
    new: Annotated[Path, typer.Argument(help="Synth output directory after the change")],
) -> None:
    """Resources added, removed and changed between two synth outputs, with the changed inputs."""
    from lacchain_cli.plan_diff import diff_plans, load_plan, render_diff

    try:
        result = diff_plans(load_plan(old), load_plan(new))
    except InvalidInput as exc:
        raise fail(exc) from None
    sys.stdout.write(render_diff(result))
    raise typer.Exit(0 if result.empty else 1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
