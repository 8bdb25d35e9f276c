"""Cache counters: Prometheus metrics per resource, and service-wide totals kept in Redis.

Every event increments a Prometheus counter on pgkeel's `REGISTRY` at once
(`pgkeel_cache_hits_total{resource="users"}` ...), and a per-process delta. Every
`flush_interval_s` (and on close) the deltas are added to one Redis hash, `<prefix>!stats`,
with pipelined HINCRBYs: one round trip per flush, not per request. `pgkeel cache stats` reads
that hash, so it reports every process of the service, not just itself. A failed flush keeps
its deltas for the next one.
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

from pgkeel.cache.breaker import BreakerState
from pgkeel.observe.metrics import REGISTRY

__all__ = ["EVENTS", "CacheStats", "Recorder", "summarize"]

EVENTS: tuple[str, ...] = (
    "hits", "misses", "sets", "invalidations", "errors", "stale_served", "lease_waits",
    "early_refreshes", "fills_rejected", "loads",
)
"""hits/misses: reads; sets: values stored; invalidations: keys or tags invalidated; errors:
failed Redis calls and undecodable values; stale_served: stale values returned (stale_ok);
lease_waits: misses that waited for another process's fill; early_refreshes: XFetch
refreshes; fills_rejected: fills refused because an invalidation came first (the stale-set
race, prevented); loads: loader calls."""

_HELP = {
    "hits": "Cache reads that found a valid value.",
    "misses": "Cache reads that found no valid value.",
    "sets": "Values stored in the cache.",
    "invalidations": "Keys and tags invalidated.",
    "errors": "Failed cache backend calls and undecodable values.",
    "stale_served": "Stale values served to callers that allowed them.",
    "lease_waits": "Misses that waited for another process's fill.",
    "early_refreshes": "XFetch probabilistic early refreshes.",
    "fills_rejected": "Fills rejected because an invalidation came after the lease.",
    "loads": "Loader calls (database reads) made by the cache.",
}

_COUNTERS = {
    event: Counter(f"pgkeel_cache_{event}", text, ["resource"], registry=REGISTRY)
    for event, text in _HELP.items()
}
BREAKER_STATE = Gauge("pgkeel_cache_breaker_state",
                      "Cache circuit breaker: 0 closed, 1 open, 2 half-open.", ["cache"],
                      registry=REGISTRY)
PENDING = Gauge("pgkeel_cache_pending_invalidations",
                "Invalidations waiting for Redis to come back.", ["cache"], registry=REGISTRY)

BREAKER_OPENS_FIELD = "~:breaker_opens"
"""The field of the stats hash counting breaker openings, service-wide."""


class Recorder:
    """Counts events for Prometheus and accumulates deltas for the Redis totals."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str], Any] = {}
        self.local: Tally[tuple[str, str]] = Tally()
        self._unflushed: Tally[tuple[str, str] | str] = Tally()
        """By (resource, event) -- rendered as `resource:event` when flushed, not per hit --
        or by a service-wide field name."""

    def add(self, resource: str, event: str, amount: int = 1) -> None:
        key = (resource, event)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = _COUNTERS[event].labels(resource)
        child.inc(amount)
        self.local[key] += amount
        self._unflushed[key] += amount

    def add_field(self, field_name: str, amount: int = 1) -> None:
        """A service-wide counter with no Prometheus twin (e.g. breaker openings)."""
        self._unflushed[field_name] += amount

    def take_unflushed(self) -> dict[str, int]:
        deltas: Tally[str] = Tally()
        for k, n in self._unflushed.items():
            deltas[k if isinstance(k, str) else f"{k[0]}:{k[1]}"] += n
        self._unflushed = Tally()
        return dict(deltas)

    def restore_unflushed(self, deltas: dict[str, int]) -> None:
        """Put back what a failed flush took (as rendered fields)."""
        self._unflushed.update(deltas)


@dataclass
class CacheStats:
    """Counters per resource plus the breaker's view, for `Cache.stats()` and the CLI."""

    resources: dict[str, dict[str, int]] = field(default_factory=dict)
    breaker: str = BreakerState.CLOSED.name.lower()
    breaker_opens: int = 0
    pending_invalidations: int = 0
    backend: str = ""

    @property
    def totals(self) -> dict[str, int]:
        total: dict[str, int] = dict.fromkeys(EVENTS, 0)
        for counters in self.resources.values():
            for event, amount in counters.items():
                total[event] = total.get(event, 0) + amount
        return total

    @property
    def hit_rate(self) -> float | None:
        return _hit_rate(self.totals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "breaker": self.breaker,
            "breaker_opens": self.breaker_opens,
            "pending_invalidations": self.pending_invalidations,
            "hit_rate": self.hit_rate,
            "totals": self.totals,
            "resources": {name: {**counters, "hit_rate": _hit_rate(counters)}
                          for name, counters in sorted(self.resources.items())},
        }


def _hit_rate(counters: dict[str, int]) -> float | None:
    reads = counters.get("hits", 0) + counters.get("misses", 0)
    return round(counters.get("hits", 0) / reads, 4) if reads else None


def summarize(fields: dict[str, int]) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Split a stats hash into per-resource counters and the `~:` service-wide fields."""
    resources: dict[str, dict[str, int]] = {}
    extra: dict[str, int] = {}
    for name, amount in fields.items():
        if name.startswith("~:"):
            extra[name[2:]] = amount
            continue
        resource, _, event = name.rpartition(":")
        if resource and event in _HELP:
            resources.setdefault(resource, dict.fromkeys(EVENTS, 0))[event] = amount
    return resources, extra
