"""Capped exponential backoff with full jitter for calls to key stores.

Many nodes of a member often boot together (a new stack, a region recovering), and key stores throttle per
account: Secrets Manager answers ThrottlingException, GCP and Vault answer 429, and all of them occasionally 5xx.
Full jitter (a uniformly random delay up to the capped exponential bound) spreads the retries of simultaneous
agents instead of having them collide again in lock step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from services.keyagent.errors import StoreUnavailable

T = TypeVar("T")


class Retryable(Exception):
    """Raised by a store call for a transient failure; ``reason`` is a short code (never a value)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. ``sleep`` and ``random`` are injectable so the schedule itself can be observed."""

    attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based): uniform in [0, min(max, base * 2**attempt)]."""
        return self.random() * min(self.max_delay, self.base_delay * (2**attempt))


def call_with_retry(operation: Callable[[], T], policy: RetryPolicy, what: str) -> T:
    """Run ``operation``; on ``Retryable`` wait and try again, up to ``policy.attempts`` calls in all."""
    last_reason = ""
    for attempt in range(policy.attempts):
        try:
            return operation()
        except Retryable as exc:
            last_reason = exc.reason
            if attempt + 1 < policy.attempts:
                policy.sleep(policy.delay(attempt))
    raise StoreUnavailable(
        f"{what} kept failing after {policy.attempts} attempts (last: {last_reason}); the key store is "
        "throttling or unavailable: check its service health and quotas and the node's network path to it, "
        "then restart the agent"
    )
