"""TTL tiers and jitter.

The tiers: short 60 s, medium 300 s, long 3600 s, a day, a week.
Every stored TTL gets +/-10% uniform jitter, so keys filled together don't expire together.
"""

from __future__ import annotations

import random
from enum import IntEnum

__all__ = ["TTL", "jittered"]


class TTL(IntEnum):
    """TTL tiers in seconds."""

    SHORT = 60
    MEDIUM = 300
    LONG = 3600
    DAY = 86_400
    WEEK = 604_800


_rng = random.Random()  # noqa: S311 -- jitter, not cryptography


def jittered(ttl_s: float, jitter: float = 0.1) -> float:
    """`ttl_s` scaled by a uniform factor in [1 - jitter, 1 + jitter]."""
    if ttl_s <= 0:
        raise ValueError("ttl must be positive")
    return ttl_s * _rng.uniform(1.0 - jitter, 1.0 + jitter)
