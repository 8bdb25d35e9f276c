"""A service's own recent history, for the charts of its /ops page: a ring buffer of samples
taken every few seconds by a background task, in memory (an hour by default).

    history = History(every_s=10)
    async with run_sampler(history, lambda: sample(db, cache=cache, appender=appender)):
        ...                                   # history.series("pool_pct") -> [(t, value)]

Each process samples itself: its pool, its cache counters and its audit queue are its own;
the database figures (latency, outbox backlog) are the same from every copy.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from pgkeel import outbox
from pgkeel.audit import AuditAppender
from pgkeel.cache import Cache
from pgkeel.db import Database
from pgkeel.errors import OutboxNotInstalled, PgkeelError

__all__ = ["SERIES", "CacheTotals", "History", "run_sampler", "sample"]

log = logging.getLogger("pgkeel.ops")

SERIES: dict[str, str] = {
    "db_latency_ms": "PostgreSQL round trip (ms)",
    "pool_pct": "pool in use (%)",
    "cache_hit_pct": "cache hit rate (%)",
    "outbox_lag_s": "outbox lag (s)",
    "outbox_pending": "outbox events waiting",
    "audit_queue": "audit events queued",
}
"""What each sample holds, with the chart titles the page gives them."""


class History:
    """The last `window_s` seconds of samples, one every `every_s` seconds (oldest first)."""

    def __init__(self, *, every_s: float = 10.0, window_s: float = 3600.0) -> None:
        self.every_s = every_s
        self.window_s = window_s
        self._points: deque[tuple[float, dict[str, float | None]]] = deque(
            maxlen=max(2, math.ceil(window_s / every_s)))

    def add(self, values: dict[str, float | None], *, at: float | None = None) -> None:
        self._points.append((time.time() if at is None else at, dict(values)))

    def __len__(self) -> int:
        return len(self._points)

    def series(self, name: str) -> list[tuple[float, float]]:
        """(unix time, value) of `name`, oldest first; samples without a value are left out."""
        return [(at, value) for at, values in self._points
                if (value := values.get(name)) is not None]

    def latest(self) -> dict[str, float | None]:
        return dict(self._points[-1][1]) if self._points else {}

    def as_dict(self) -> dict[str, Any]:
        return {"every_s": self.every_s, "window_s": self.window_s,
                "series": {name: self.series(name) for name in SERIES}}


@dataclass
class CacheTotals:
    """The cache's hit and miss counts at the previous sample, so each sample's hit rate is
    that of the reads since the one before (not since the process started)."""

    hits: int = 0
    misses: int = 0
    seen: bool = field(default=False)

    def rate_since(self, cache: Cache | None) -> float | None:
        if cache is None:
            return None
        totals = cache.stats().totals
        hits, misses = totals.get("hits", 0), totals.get("misses", 0)
        delta_hits, delta_misses = hits - self.hits, misses - self.misses
        first = not self.seen
        self.hits, self.misses, self.seen = hits, misses, True
        reads = delta_hits + delta_misses
        if first or reads <= 0:
            return None
        return round(100.0 * delta_hits / reads, 1)


async def sample(db: Database, *, cache: Cache | None = None,
                 appender: AuditAppender | None = None,
                 cache_totals: CacheTotals | None = None) -> dict[str, float | None]:
    """One sample of this process and its database: what `SERIES` names."""
    values: dict[str, float | None] = dict.fromkeys(SERIES)
    with suppress(PgkeelError):
        values["db_latency_ms"] = round((await db.ping()).latency_ms, 2)
    primary = next(iter(db.pool_stats().values()), {})
    limit = max(1, primary.get("pool_max", 1))
    in_use = primary.get("pool_size", 0) - primary.get("pool_available", 0)
    values["pool_pct"] = round(100.0 * in_use / limit, 1)
    if cache_totals is not None:
        values["cache_hit_pct"] = cache_totals.rate_since(cache)
    with suppress(OutboxNotInstalled, PgkeelError):
        backlog = await outbox.stats(db)
        values["outbox_lag_s"] = round(backlog.oldest_pending_age_s, 1)
        values["outbox_pending"] = float(backlog.pending)
    if appender is not None:
        values["audit_queue"] = float(appender.stats().pending)
    return values


@asynccontextmanager
async def run_sampler(history: History, take: Callable[[], Awaitable[dict[str, float | None]]]
                      ) -> AsyncIterator[History]:
    """Add `take()` to `history` now and every `history.every_s` seconds until the block
    ends; a failed sample is logged and skipped."""

    async def loop() -> None:
        while True:
            try:
                history.add(await take())
            except Exception as exc:  # a sample must never stop the service
                log.warning("ops history sample failed: %s", exc)
            await asyncio.sleep(history.every_s)

    task = asyncio.create_task(loop(), name="pgkeel-ops-history")
    try:
        yield history
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
