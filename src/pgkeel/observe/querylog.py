"""Per-statement observation: the DB_TRACE log, a ring buffer of slow queries, totals.

Every statement a transaction runs is timed. With DB_TRACE on, each one is logged as one JSON
line (parameter values redacted unless DB_TRACE_PARAMS). Statements slower than SLOW_QUERY_MS
land in a bounded ring buffer that `Database.slow_queries()` returns and `Database.explain()`
can plan on demand.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import Counter

from pgkeel.observe import tracing
from pgkeel.observe.metrics import REGISTRY

__all__ = ["QueryObserver", "SlowQuery"]

log = logging.getLogger("pgkeel.trace")

STATEMENT_SLOW = Counter("pgkeel_statement_slow", "Statements slower than SLOW_QUERY_MS.",
                         registry=REGISTRY)


@dataclass(frozen=True)
class SlowQuery:
    """One slow statement. `params` is what may be shown (redacted unless allowed)."""

    sql: str
    params: list[Any]
    duration_ms: float
    at: float
    _raw_params: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"sql": self.sql, "params": self.params, "duration_ms": round(self.duration_ms, 3),
                "at": self.at}


def _text(query: Any) -> str:
    if isinstance(query, bytes):
        return query.decode(errors="replace")
    if isinstance(query, str):
        return query
    try:
        return str(query.as_string(None))
    except Exception:
        return type(query).__name__


def _shown(params: Any, reveal: bool) -> list[Any]:
    if params is None:
        return []
    values = list(params.values()) if isinstance(params, dict) else list(params)
    if reveal:
        return values
    return ["<redacted>" for _ in values]


class QueryObserver:
    """Counts and times statements; keeps the slowest recent ones."""

    def __init__(self, *, slow_ms: float = 300.0, trace: bool = False,
                 trace_params: bool = False, keep: int = 200) -> None:
        self.slow_ms = slow_ms
        self.trace = trace
        self.trace_params = trace_params
        self.total = 0
        self.slow = 0
        self.total_ms = 0.0
        self._slow: deque[SlowQuery] = deque(maxlen=keep)

    def record(self, query: Any, params: Any, duration_s: float, *, error: str | None = None,
               pool: str = "") -> None:
        tracing.record_query(query, duration_s, error, pool)
        duration_ms = duration_s * 1000
        self.total += 1
        self.total_ms += duration_ms
        slow = duration_ms >= self.slow_ms
        if slow:
            self.slow += 1
            STATEMENT_SLOW.inc()
            self._slow.append(SlowQuery(_text(query), _shown(params, self.trace_params),
                                        duration_ms, time.time(), params))
        if self.trace:
            log.info(orjson.dumps({
                "event": "query", "sql": _text(query), "params": _shown(params, self.trace_params),
                "duration_ms": round(duration_ms, 3), "slow": slow, "error": error, "pool": pool,
            }, default=str).decode())

    def slow_queries(self, min_ms: float | None = None) -> list[SlowQuery]:
        floor = self.slow_ms if min_ms is None else min_ms
        return [q for q in self._slow if q.duration_ms >= floor]

    def metrics(self) -> dict[str, float]:
        return {"total": self.total, "slow": self.slow,
                "avg_ms": round(self.total_ms / self.total, 3) if self.total else 0.0}
