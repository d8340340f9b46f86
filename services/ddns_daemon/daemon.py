"""One node's daemon: detect the address, publish it, sync the peer lists; once, or in a loop until stopped.

The loop has two clocks. The node table is polled every ``sync.interval_seconds`` (default 1 s, a conditional GET
that costs the function a 304 when nothing changed), because how fast *other* nodes move is what decides how fast
this node follows them. The own address is checked every ``ip.check_interval_seconds`` (default 30 s) and at
start, because echo services must not be hammered and because the common causes of a new address (a VM stopped
and started, a pod rescheduled) restart the daemon too, which checks at once.

Nothing in a cycle raises: each step's problem is logged (once, not every second while it lasts), counted in the
metrics and reported in ``CycleReport`` so ``once`` can exit non-zero for cron.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from lacchain.errors import FieldProblem, InvalidInput
from lacchain.keys import NodeKey, NodeKeyError
from lacchain.stack_config import Role
from services.ddns_daemon import besu_files, besu_rpc
from services.ddns_daemon.besu_rpc import BesuRpc
from services.ddns_daemon.config import DaemonConfig
from services.ddns_daemon.ipdetect import (
    AddressDetector,
    Detection,
    SourceError,
    build_sources,
    private_networks,
    usable_address,
)
from services.ddns_daemon.live import LiveResult, apply_live
from services.ddns_daemon.metrics import DaemonMetrics, MetricsServer, serve
from services.ddns_daemon.state import StateStore
from services.ddns_daemon.table import TableClient, TableError, TableFetch
from services.ddns_daemon.toml_edit import TomlEditError
from services.ddns_daemon.topology import PeerPlan, plan_for
from services.ddns_daemon.update_client import PublishResult, UpdateClient, unix_ms

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class SyncReport:
    table_changed: bool = False
    role: Role | None = None
    plan: PeerPlan | None = None
    files_rewritten: list[str] = field(default_factory=list)
    live: LiveResult | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class CycleReport:
    detection: Detection | None = None
    address: str | None = None
    published: PublishResult | None = None
    enr: PublishResult | None = None
    """The node's ENR record posted in this cycle (after an accepted update, or one still owed), or None."""
    sync: SyncReport | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and (self.sync is None or self.sync.ok)


class _Problems:
    """Logs a problem when it appears and when it clears, not on every cycle while it lasts."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._current: tuple[str, ...] = ()

    def report(self, problems: list[str]) -> None:
        now = tuple(problems)
        if now == self._current:
            for problem in problems:
                log.debug("%s (still): %s", self._what, problem)
            return
        for problem in problems:
            if problem not in self._current:
                log.warning("%s: %s", self._what, problem)
        if self._current and not now:
            log.info("%s: resolved", self._what)
        self._current = now


def check_environment(config: DaemonConfig) -> NodeKey:
    """Everything the daemon needs from the machine, checked before it changes anything; returns the node key.

    Raises ``InvalidInput`` naming each config field whose file or directory is unusable. The key's content is
    never put in a message.
    """
    problems: list[FieldProblem] = []
    key: NodeKey | None = None
    try:
        key = NodeKey.load(config.node_key_file)
    except FileNotFoundError:
        problems.append(
            FieldProblem("node_key_file", f"{config.node_key_file} does not exist", "point it at Besu's key")
        )
    except PermissionError:
        problems.append(
            FieldProblem("node_key_file", f"{config.node_key_file} is not readable by this user", "grant read access")
        )
    except (NodeKeyError, UnicodeDecodeError, IsADirectoryError):
        problems.append(
            FieldProblem("node_key_file", f"{config.node_key_file} is not a secp256k1 key file", "0x + 64 hex digits")
        )
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(config.state_dir, os.W_OK):
            raise PermissionError
    except OSError:
        problems.append(FieldProblem("state_dir", f"{config.state_dir} is not a writable directory", "create it"))
    sync = config.sync
    if sync.besu_config_file is not None and not sync.besu_config_file.is_file():
        problems.append(
            FieldProblem(
                "sync.besu_config_file", f"{sync.besu_config_file} does not exist", "render Besu's config first"
            )
        )
    for name, path in (
        ("sync.static_nodes_file", sync.static_nodes_file),
        ("sync.allowlist_file", sync.allowlist_file),
    ):
        if path is not None and not _writable_dir(path.parent):
            problems.append(FieldProblem(name, f"directory {path.parent} is not writable", "create it or grant write"))
    if config.ip.static_address is not None:
        try:
            usable_address(config.ip.static_address, private_networks(config.ip))
        except SourceError as exc:
            problems.append(
                FieldProblem(
                    "ip.static_address", str(exc), "use the public address, or list its range in allowed_private_cidrs"
                )
            )
    if config.besu.auth_token_file is not None and not config.besu.auth_token_file.is_file():
        problems.append(FieldProblem("besu.auth_token_file", f"{config.besu.auth_token_file} does not exist"))
    if problems or key is None:
        raise InvalidInput(problems, "the daemon's environment")
    return key


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


class Daemon:
    def __init__(
        self,
        config: DaemonConfig,
        key: NodeKey,
        *,
        metrics: DaemonMetrics | None = None,
        sequence_clock: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.key = key
        self.node_id = key.node_id
        self.metrics = metrics if metrics is not None else DaemonMetrics()
        self.state = StateStore(config.state_dir)
        self._clients: list[httpx.Client] = []
        function_client = self._client(config.function.timeout_seconds, trust_env=True)
        self.table = TableClient(config.function.url, config.network, function_client)
        self.updates = UpdateClient(
            function_url=config.function.url,
            network=config.network,
            key=key,
            state=self.state,
            settings=config.function,
            metrics=self.metrics,
            client=function_client,
            current_sequence=self._own_table_sequence,
            sequence_clock=sequence_clock or unix_ms,
            sleep=sleep,
        )
        self.detector: AddressDetector | None = None
        if config.ip.static_address is None:
            sources = build_sources(config.ip, lambda trust_env: self._client(config.ip.timeout_seconds, trust_env))
            self.detector = AddressDetector(
                sources, config.ip.effective_quorum, config.ip.timeout_seconds, private_networks(config.ip)
            )
        self.rpc: BesuRpc | None = None
        if config.besu.rpc_url is not None:
            token = config.besu.auth_token_file.read_text().strip() if config.besu.auth_token_file else None
            timeout = config.besu.timeout_seconds
            http = self._client(timeout, trust_env=False) if config.besu.rpc_url.startswith("http") else None
            self.rpc = besu_rpc.connect(config.besu.rpc_url, timeout=timeout, auth_token=token, http_client=http)
        self._sync_complete = False
        self._sync_problems = _Problems("peer sync")
        self._address_problems = _Problems("address")
        self._metrics_server: MetricsServer | None = None

    @classmethod
    def from_config(
        cls,
        config: DaemonConfig,
        *,
        metrics: DaemonMetrics | None = None,
        sequence_clock: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Daemon:
        """A daemon for ``config`` after ``check_environment`` (which loads the node key) passed."""
        return cls(config, check_environment(config), metrics=metrics, sequence_clock=sequence_clock, sleep=sleep)

    def _client(self, timeout: float, trust_env: bool) -> httpx.Client:
        client = httpx.Client(timeout=timeout, trust_env=trust_env, follow_redirects=False)
        self._clients.append(client)
        return client

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None
        if self.rpc is not None:
            self.rpc.close()
        for client in self._clients:
            client.close()

    def serve_metrics(self) -> MetricsServer | None:
        settings = self.config.metrics
        if settings.enabled and self._metrics_server is None:
            self._metrics_server = serve(self.metrics, settings.address, settings.port)
            log.info("metrics on http://%s:%d/metrics", settings.address, self._metrics_server.port)
        return self._metrics_server

    # -- the own address ---------------------------------------------------------------------------------------

    def detect_address(self) -> tuple[str | None, Detection | None]:
        if self.detector is None:
            address = str(ipaddress.ip_address(self.config.ip.static_address or ""))
            self.metrics.public_ip.info({"address": address, "source": "static"})
            return address, None
        detection = self.detector.detect()
        for result in detection.results:
            if result.address is None:
                self.metrics.source_failures.labels(result.source).inc()
        if detection.disagreement:
            self.metrics.source_disagreements.inc()
        if detection.address is None:
            self.metrics.no_quorum.inc()
        else:
            self.metrics.public_ip.info({"address": detection.address, "source": "quorum"})
        return detection.address, detection

    def publish_if_needed(self, address: str) -> PublishResult | None:
        """Send an update unless the table (or, when it is unreachable, the last accepted update) has it already."""
        port = self.config.ip.port
        table = self.table.cached
        mine = table.find(self.node_id) if table is not None else None
        if mine is not None:
            if _same_host(mine.host, address) and mine.port == port:
                return None
        elif table is None:
            published = self.state.state.published
            if published is not None and _same_host(published.host, address) and published.port == port:
                return None
        return self.updates.publish(address, port)

    def publish_enr_if_needed(self, address: str, published: PublishResult | None) -> PublishResult | None:
        """Post the node's ENR for its current address unless the function already answered for it.

        After an accepted update its sequence is the record's ``seq``. Without an update (the address did not
        change) the record still owed is the one of the last accepted update: its sequence is the table's row for
        this node (or the state's, when the table is unreachable), so a record that failed before, or was never
        sent because the daemon restarted in between, is sent on a later check."""
        if not self.config.function.publish_enr:
            return None
        port = self.config.ip.port
        if published is not None:
            if not published.accepted:
                return None
            sequence = published.sequence
        else:
            table = self.table.cached
            mine = table.find(self.node_id) if table is not None else None
            last = self.state.state.published
            if mine is not None and _same_host(mine.host, address) and mine.port == port:
                sequence = mine.sequence
            elif table is None and last is not None and _same_host(last.host, address) and last.port == port:
                sequence = last.sequence
            else:
                return None
        sent = self.state.state.enr
        if sent is not None and sent.sequence >= sequence:
            return None
        return self.updates.publish_enr(address, port, sequence)

    def check_address(self) -> CycleReport:
        report = CycleReport()
        address, detection = self.detect_address()
        report.address, report.detection = address, detection
        problems = []
        if address is None:
            assert detection is not None
            problems.append(f"no quorum of address sources agrees ({detection.explain()}); nothing published")
        else:
            report.published = self.publish_if_needed(address)
            if report.published is not None and not report.published.accepted:
                problems.append(_failure(f"update for {address}", report.published))
            report.enr = self.publish_enr_if_needed(address, report.published)
            if report.enr is not None and not report.enr.accepted:
                problems.append(_failure(f"ENR seq {report.enr.sequence}", report.enr))
        self._address_problems.report(problems)
        report.problems.extend(problems)
        return report

    def _own_table_sequence(self) -> int | None:
        try:
            table = self.table.fetch().table
        except TableError:
            return None
        mine = table.find(self.node_id)
        return mine.sequence if mine is not None else None

    # -- the peers ---------------------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        report = SyncReport()
        try:
            fetch = self.table.fetch()
        except TableError as exc:
            self.metrics.table_fetch_failures.inc()
            report.problems.append(str(exc))
            self._sync_problems.report(report.problems)
            return report
        report.table_changed = fetch.changed
        if not fetch.changed and self._sync_complete:
            self.metrics.last_sync.set_to_current_time()
            return report
        self._sync_table(fetch, report)
        self._sync_complete = report.ok
        if report.ok:
            self.metrics.last_sync.set_to_current_time()
        self._sync_problems.report(report.problems)
        return report

    def _sync_table(self, fetch: TableFetch, report: SyncReport) -> None:
        table = fetch.table
        mine = table.find(self.node_id)
        role = mine.role if mine is not None else self.config.role
        if mine is not None and self.config.role is not None and mine.role is not self.config.role:
            log.warning(
                "the node table says this node is a %s, the config says %s; using the table",
                mine.role,
                self.config.role,
            )
        if role is None:
            report.problems.append(
                "this node is not in the node table yet and the config sets no role; peers unchanged"
            )
            return
        report.role = role
        plan = plan_for(table, self.node_id, role, self.config.sync.extra_boot_nodes)
        report.plan = plan
        self.metrics.desired_peers.set(len(plan.static_nodes))
        baseline_peers, baseline_allowlist = self._baselines()
        self._rewrite_files(plan, report)
        if self.rpc is None:
            return
        live = apply_live(
            self.rpc,
            self.metrics,
            applied_peers=baseline_peers,
            wanted_peers=besu_files.canonical(plan.static_nodes),
            applied_allowlist=baseline_allowlist,
            wanted_allowlist=besu_files.canonical(plan.allowlist) if self.config.sync.allowlist_file else None,
        )
        report.live = live
        self.state.record_applied(live.peers, live.allowlist)
        report.problems.extend(live.errors)
        if live.added or live.removed:
            log.info("Besu peers: added %d, removed %d", len(live.added), len(live.removed))

    def _baselines(self) -> tuple[frozenset[str], frozenset[str] | None]:
        """What the running Besu has: what the daemon applied last, or on its first run what Besu read at start
        (the files as they are before the daemon rewrites them)."""
        state = self.state.state
        sync = self.config.sync
        peers = state.applied_peers
        if peers is None:
            current = besu_files.read_static_nodes(sync.static_nodes_file) if sync.static_nodes_file else None
            peers = besu_files.canonical(current or [])
        allowlist: frozenset[str] | None = None
        if sync.allowlist_file is not None:
            allowlist = state.applied_allowlist
            if allowlist is None:
                try:
                    current = besu_files.read_toml_array(sync.allowlist_file, besu_files.ALLOWLIST_KEY)
                except TomlEditError:
                    current = None
                allowlist = besu_files.canonical(current or [])
        return peers, allowlist

    def _rewrite_files(self, plan: PeerPlan, report: SyncReport) -> None:
        sync = self.config.sync
        steps: list[tuple[str, Path | None, Callable[[Path], bool]]] = [
            ("static-nodes", sync.static_nodes_file, lambda p: besu_files.sync_static_nodes(p, plan.static_nodes)),
            (
                "bootnodes",
                sync.besu_config_file,
                lambda p: besu_files.sync_toml_array(p, besu_files.BOOTNODES_KEY, plan.bootnodes, create=False),
            ),
            (
                "allowlist",
                sync.allowlist_file,
                lambda p: besu_files.sync_toml_array(p, besu_files.ALLOWLIST_KEY, plan.allowlist, create=True),
            ),
        ]
        for name, path, step in steps:
            if path is None:
                continue
            try:
                if step(path):
                    report.files_rewritten.append(name)
                    self.metrics.files_rewritten.labels(name).inc()
                    log.info("rewrote %s (%s)", path, name)
            except (besu_files.PeerFileError, TomlEditError, OSError) as exc:
                report.problems.append(f"{name}: {exc}")

    # -- cycles --------------------------------------------------------------------------------------------------

    def run_once(self) -> CycleReport:
        """One full cycle: sync the table first (publishing compares against it), then the address."""
        sync = self._guarded("peer sync", self.sync, SyncReport())
        report = self._guarded("address check", self.check_address, CycleReport())
        report.sync = sync
        return report

    def run(self, stop: threading.Event, jitter: Callable[[], float] = random.random) -> None:
        """Loop until ``stop`` is set."""
        sync_interval = self.config.sync.interval_seconds
        ip_interval = self.config.ip.check_interval_seconds
        next_sync = next_ip = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_sync:
                self._guarded("peer sync", self.sync, SyncReport())
                # +-10 % so a fleet started together does not poll in lock step.
                next_sync = now + sync_interval * (0.9 + 0.2 * jitter())
            if now >= next_ip:
                self._guarded("address check", self.check_address, CycleReport())
                next_ip = now + ip_interval
            stop.wait(max(0.0, min(next_sync, next_ip) - time.monotonic()))

    def _guarded(self, what: str, step: Callable[[], _T], fallback: _T) -> _T:
        try:
            return step()
        except Exception as exc:  # the daemon must outlive a bug in one step; systemd restarts it if it dies
            log.exception("%s failed unexpectedly", what)
            problems = getattr(fallback, "problems", None)
            if isinstance(problems, list):
                problems.append(f"{what} failed: {type(exc).__name__}")
            return fallback


def _failure(what: str, result: PublishResult) -> str:
    detail = f" (HTTP {result.status}: {result.field}: {result.problem})" if result.status else ""
    return f"{what} {result.outcome.value}{detail}"


def _same_host(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower() == b.lower()
