"""Publishing the node's address: a signed ``AddressUpdate`` posted to the DDNS function's ``/v1/update``.

Failures are handled by who is at fault:

* The function or the network (5xx, 429, timeouts, refused connections): the *same* signed update is retried with
  exponential backoff and full jitter (``sleep = uniform(0, min(cap, initial * 2**n))``), honouring
  ``Retry-After``, so a fleet of nodes recovering together does not hammer the function in lock step.
* The update itself (4xx): retrying the same bytes cannot help, so the refusal is logged with the function's
  ``error.field`` and ``error.problem`` and counted by reason. The one exception is 409 on ``update.sequence``
  (the function holds a higher sequence, e.g. after the state file was lost and the clock went back): the
  daemon reads its own row of the node table and signs again above that sequence, at most
  ``max_sequence_bumps`` times, so it can never loop.

After an accepted update the daemon also posts the node's own EIP-778 record to ``/v1/enr`` (``publish_enr``):
``ip`` or ``ip6`` = the published address, ``tcp`` and ``udp`` = the p2p port (Besu's discovery port is its p2p
port), signed with the node key ("v4" scheme). Its ``seq`` is the accepted update's sequence: that number is
persisted before use, grows across restarts, and is above every sequence the function accepted before, so it is
above the ``seq`` of any record the function holds for this node (each was an earlier update's sequence), and the
function's "seq must grow" rule can never refuse a fresh record. The same retry policy applies; a 409 on
``enr.seq`` means the function already holds this very record (posted before a restart lost the state file).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx

from lacchain.ddns.update import AddressUpdate
from lacchain.enr import Enr
from lacchain.keys import NodeKey
from services.ddns_daemon.config import FunctionSettings
from services.ddns_daemon.metrics import DaemonMetrics, refusal_reason
from services.ddns_daemon.state import StateStore

log = logging.getLogger(__name__)

UPDATE_PATH = "/v1/update"
ENR_PATH = "/v1/enr"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    FAILED = "failed"
    """Gave up after every retry: the function was unreachable or kept failing."""


@dataclass(frozen=True)
class PublishResult:
    outcome: Outcome
    sequence: int
    status: int | None = None
    field: str | None = None
    problem: str | None = None
    name: str | None = None
    """The DNS name the function published (``<label>.<zone>``), when accepted."""

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


def unix_ms() -> int:
    return time.time_ns() // 1_000_000


class UpdateClient:
    def __init__(
        self,
        *,
        function_url: str,
        network: str,
        key: NodeKey,
        state: StateStore,
        settings: FunctionSettings,
        metrics: DaemonMetrics,
        client: httpx.Client,
        current_sequence: Callable[[], int | None] = lambda: None,
        sequence_clock: Callable[[], int] = unix_ms,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._url = function_url.rstrip("/") + UPDATE_PATH
        self._enr_url = function_url.rstrip("/") + ENR_PATH
        self._network = network
        self._key = key
        self._state = state
        self._settings = settings
        self._metrics = metrics
        self._client = client
        self._current_sequence = current_sequence
        self._sequence_clock = sequence_clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng

    def publish(self, host: str, port: int) -> PublishResult:
        """Sign and send "this node is at ``host``:``port``"; never raises for network or server trouble."""
        floor = 0
        bumps = 0
        while True:
            sequence = self._state.reserve_sequence(self._sequence_clock(), floor)
            update = AddressUpdate(
                network=self._network,
                node_id=self._key.node_id,
                host=host,
                port=port,
                sequence=sequence,
                timestamp=int(self._wall_clock()),
            )
            body = update.sign(self._key).to_json()
            self._metrics.updates_sent.inc()
            response = self._post_with_retry(self._url, body)
            if response is None:
                self._metrics.updates_failed.inc()
                return PublishResult(Outcome.FAILED, sequence)
            if response.status_code == 200:
                return self._accepted(response, host, port, sequence)
            field, problem = _error_of(response)
            if (
                response.status_code == 409
                and field in ("update.sequence", None)
                and bumps < self._settings.max_sequence_bumps
            ):
                bumps += 1
                stored = self._current_sequence()
                floor = (stored + 1) if stored is not None else 0
                log.warning(
                    "update %d refused as stale (%s); signing again above %s (bump %d of %d)",
                    sequence, problem, stored if stored is not None else "the last sequence", bumps,
                    self._settings.max_sequence_bumps,
                )  # fmt: skip
                continue
            self._metrics.updates_refused.labels(refusal_reason(response.status_code)).inc()
            log.error(
                "the DDNS function refused update %d with HTTP %d: %s: %s",
                sequence, response.status_code, field or "?", problem or "?",
            )  # fmt: skip
            return PublishResult(Outcome.REFUSED, sequence, response.status_code, field, problem)

    def _accepted(self, response: httpx.Response, host: str, port: int, sequence: int) -> PublishResult:
        name = None
        try:
            document = response.json()
            name = document.get("name") if isinstance(document, dict) else None
        except ValueError:
            log.warning("the DDNS function accepted update %d but its answer is not JSON", sequence)
        self._state.record_published(host, port, sequence)
        self._metrics.updates_accepted.inc()
        log.info("published %s:%d as %s (sequence %d)", host, port, name or "?", sequence)
        return PublishResult(Outcome.ACCEPTED, sequence, 200, name=name if isinstance(name, str) else None)

    def publish_enr(self, host: str, port: int, sequence: int) -> PublishResult:
        """Sign and send the node's record for ``host``:``port`` with ``seq`` = ``sequence`` (the accepted update's);
        never raises for network or server trouble. The outcome is recorded in the state either way, except when
        every retry failed (then the next address check sends it again)."""
        v6 = ipaddress.ip_address(host).version == 6
        record = Enr.create(self._key, sequence, ip=None if v6 else host, ip6=host if v6 else None, tcp=port, udp=port)
        self._metrics.enr_sent.inc()
        response = self._post_with_retry(self._enr_url, json.dumps({"enr": record.text}))
        if response is None:
            self._metrics.enr_failed.inc()
            return PublishResult(Outcome.FAILED, sequence)
        field, problem = (None, None) if response.status_code == 200 else _error_of(response)
        if response.status_code == 200 or (response.status_code == 409 and field == "enr.seq"):
            self._state.record_enr(sequence, accepted=True)
            self._metrics.enr_accepted.inc()
            log.info("published ENR seq %d (%s:%d)%s", sequence, host, port, "" if response.status_code == 200
                     else "; the function already held it")  # fmt: skip
            return PublishResult(Outcome.ACCEPTED, sequence, response.status_code)
        self._state.record_enr(sequence, accepted=False)
        self._metrics.enr_refused.labels(refusal_reason(response.status_code)).inc()
        log.error(
            "the DDNS function refused ENR seq %d with HTTP %d: %s: %s",
            sequence, response.status_code, field or "?", problem or "?",
        )  # fmt: skip
        return PublishResult(Outcome.REFUSED, sequence, response.status_code, field, problem)

    def _post_with_retry(self, url: str, body: str) -> httpx.Response | None:
        attempts = self._settings.max_attempts
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                response = self._client.post(url, content=body, headers={"Content-Type": "application/json"})
            except httpx.TimeoutException:
                reason = "timed out"
            except httpx.TransportError as exc:
                reason = f"unreachable ({type(exc).__name__})"
            else:
                if response.status_code not in RETRYABLE_STATUS:
                    return response
                reason = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
            if attempt == attempts:
                log.error("giving up on the DDNS function after %d attempts; last: %s", attempts, reason)
                return None
            delay = self._backoff(attempt, retry_after)
            self._metrics.update_retries.inc()
            log.warning("DDNS function %s (attempt %d of %d); retrying in %.2f s", reason, attempt, attempts, delay)
            self._sleep(delay)
        return None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self._settings.backoff_max_seconds, self._settings.backoff_initial_seconds * 2 ** (attempt - 1))
        delay = self._rng() * cap
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._settings.backoff_max_seconds))
        return delay


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # the HTTP-date form is not worth parsing for a hint


def _error_of(response: httpx.Response) -> tuple[str | None, str | None]:
    """The function's ``{"error": {"field", "problem"}}``, tolerating other bodies (a proxy's error page)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None, response.text[:200] or None
    if not isinstance(error, dict):
        return None, None
    field, problem = error.get("field"), error.get("problem")
    # Bounded: these are logged, and a misbehaving server must not flood the journal.
    return (field[:100] if isinstance(field, str) else None, problem[:300] if isinstance(problem, str) else None)
