"""A circuit breaker around the cache's Redis calls.

Closed: calls go through; `failure_threshold` consecutive failures (errors or timeouts) open
it. Open: no call reaches Redis, so a dead Redis costs nothing per request. After
`reset_timeout_s` one probe may run (half-open); the cache's probe pings Redis and delivers
every pending invalidation, and only then closes the breaker. A failed probe re-opens it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(IntEnum):
    """The breaker's state; the values are what the `pgkeel_cache_breaker_state` gauge shows."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    """Counts consecutive failures; the owner decides what a probe does."""

    def __init__(self, *, failure_threshold: int = 5, reset_timeout_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[BreakerState, BreakerState], None] | None = None) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self.opened_count = 0
        """How many times the breaker has opened."""

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is BreakerState.CLOSED

    def until_probe(self) -> float:
        """Seconds until a probe may run (0 when due; only meaningful while open)."""
        return max(0.0, self._opened_at + self.reset_timeout_s - self._clock())

    def record_success(self) -> None:
        if self._state is BreakerState.CLOSED:
            self._failures = 0

    def record_failure(self) -> None:
        self._failures += 1
        if self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
            self.trip()

    def trip(self) -> None:
        """Open now (also used when an invalidation could not be delivered)."""
        if self._state is not BreakerState.OPEN:
            if self._state is BreakerState.CLOSED:
                self.opened_count += 1
            self._set(BreakerState.OPEN)
        self._opened_at = self._clock()

    def begin_probe(self) -> None:
        self._set(BreakerState.HALF_OPEN)

    def close(self) -> None:
        self._failures = 0
        self._set(BreakerState.CLOSED)

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            old, self._state = self._state, state
            if self._on_change is not None:
                self._on_change(old, state)
