"""Whole-transaction retries: capped exponential backoff with full jitter.

Full jitter (sleep a uniform random time in [0, min(cap, base * 2**attempt)]) spreads
retrying clients apart, which is what breaks a repeating serialization conflict.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pgkeel.errors import TransactionConflict
from pgkeel.observe import tracing
from pgkeel.observe.metrics import TX_RETRIES

__all__ = ["RetryPolicy"]

T = TypeVar("T")

_RETRY_REASONS = {"40001": "serialization_failure", "40P01": "deadlock_detected"}


@dataclass(frozen=True)
class RetryPolicy:
    """How `run_in_tx` retries on SQLSTATE 40001 / 40P01."""

    retries: int = 5
    """Retries after the first attempt (so at most retries + 1 attempts)."""
    base_delay_s: float = 0.01
    max_delay_s: float = 1.0

    def delay(self, attempt: int) -> float:
        """Seconds to sleep before retry number `attempt` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return random.uniform(0.0, ceiling)  # noqa: S311 -- jitter, not cryptography

    async def run(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Await `attempt()` (one whole transaction) until it does not end in a conflict,
        sleeping `delay(n)` before retry n; out of retries, the last TransactionConflict
        says how many attempts were made."""
        failures = 0
        with tracing.span("pgkeel.run_in_tx", {"db.system": "postgresql"}) as span:
            while True:
                try:
                    result = await attempt()
                except TransactionConflict as exc:
                    failures += 1
                    if failures > self.retries:
                        exc.details["attempts"] = failures
                        exc.message = f"{exc.message} Gave up after {failures} attempts."
                        raise
                    reason = _RETRY_REASONS.get(exc.sqlstate or "", "other")
                    TX_RETRIES.labels(reason).inc()
                    tracing.event("pgkeel.transaction.retry",
                                  {"reason": reason, "attempt": failures})
                    await asyncio.sleep(self.delay(failures))
                    continue
                if span is not None:
                    span.set_attribute("pgkeel.transaction.attempts", failures + 1)
                return result
