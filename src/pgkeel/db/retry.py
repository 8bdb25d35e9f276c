"""Backoff for whole-transaction retries: capped exponential with full jitter.

Full jitter (sleep a uniform random time in [0, min(cap, base * 2**attempt)]) spreads
retrying clients apart, which is what breaks a repeating serialization conflict.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


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
