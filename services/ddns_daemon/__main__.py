"""``python -m services.ddns_daemon --config FILE run|once|check``.

* ``run``: loop until SIGTERM/SIGINT (the systemd service and the Kubernetes sidecar).
* ``once``: one detect/publish/sync cycle, for cron and tests; exits 1 if any step had a problem.
* ``check``: validate the config and the machine (key file, directories) and exit.

Exit codes: 0 success, 1 a cycle step failed, 2 invalid configuration or environment.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from lacchain.errors import InvalidInput
from services.ddns_daemon.config import CONFIG_ENV, DaemonConfig, load_config
from services.ddns_daemon.daemon import CycleReport, Daemon, check_environment

app = typer.Typer(add_completion=False, no_args_is_help=True, help="LACChain DDNS node sync daemon.")
log = logging.getLogger("services.ddns_daemon")

EXIT_CYCLE_FAILED = 1
EXIT_INVALID = 2


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar=CONFIG_ENV,
            help="TOML or YAML config; LACCHAIN_DDNS_* environment variables override it.",
        ),
    ] = None,
) -> None:
    try:
        loaded = load_config(config)
    except InvalidInput as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    logging.basicConfig(
        level=loaded.log_level.value, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    ctx.obj = loaded


def _daemon(config: DaemonConfig) -> Daemon:
    try:
        return Daemon.from_config(config)
    except InvalidInput as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INVALID) from None


@app.command()
def check(ctx: typer.Context) -> None:
    """Validate the configuration and the machine, change nothing."""
    try:
        key = check_environment(ctx.obj)
    except InvalidInput as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(f"configuration valid; node id {key.node_id}")


@app.command()
def once(ctx: typer.Context) -> None:
    """One cycle: sync peers from the node table, detect the address, publish it if it changed."""
    daemon = _daemon(ctx.obj)
    try:
        report = daemon.run_once()
    finally:
        daemon.close()
    typer.echo(_summary(report))
    if not report.ok:
        raise typer.Exit(EXIT_CYCLE_FAILED)


@app.command()
def run(ctx: typer.Context) -> None:
    """Run until SIGTERM or SIGINT."""
    daemon = _daemon(ctx.obj)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        daemon.serve_metrics()
        log.info("node %s… started (network %s)", daemon.node_id[:16], daemon.config.network)
        daemon.run(stop)
    finally:
        daemon.close()


def _summary(report: CycleReport) -> str:
    published = report.published
    sync = report.sync
    parts = [
        f"address={report.address or '-'}",
        f"published={published.outcome.value if published else 'unchanged'}",
        f"enr={report.enr.outcome.value if report.enr else 'unchanged'}",
        f"role={sync.role.value if sync and sync.role else '-'}",
        f"peers={len(sync.plan.static_nodes) if sync and sync.plan else '-'}",
        f"rewritten={','.join(sync.files_rewritten) if sync and sync.files_rewritten else '-'}",
    ]
    problems = [*report.problems, *(sync.problems if sync else [])]
    return " ".join(parts) + "".join(f"\nproblem: {p}" for p in problems)


if __name__ == "__main__":
    app(prog_name="python -m services.ddns_daemon")
