"""Prometheus metrics for the database core: pool gauges and counters, transaction retries.

Pool figures come from psycopg_pool's own `get_stats()`, read at scrape time, so serving a
request costs nothing extra. Names follow Prometheus conventions: `pgkeel_` prefix, seconds.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class PoolSource(Protocol):
    """What the pool collector reads (a `pgkeel.db.Database`; `observe` does not import `db`,
    so the layers read one way: `db` -> `observe`)."""

    def pool_stats(self) -> dict[str, dict[str, int]]: ...

__all__ = ["REGISTRY", "REPO_DURATION", "REPO_ERRORS", "REPO_SLOW", "TX_RETRIES",
           "render_latest", "track_database"]

REGISTRY = CollectorRegistry(auto_describe=True)
"""pgkeel's own registry, so an application's default registry stays its own."""

TX_RETRIES = Counter(
    "pgkeel_tx_retries", "Whole-transaction retries by cause.", ["reason"], registry=REGISTRY)

REPO_DURATION = Histogram(
    "pgkeel_repo_duration_seconds", "Repository call duration.", ["repo", "operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY)
REPO_SLOW = Counter(
    "pgkeel_slow_queries", "Repository calls slower than SLOW_QUERY_MS.", ["repo", "operation"],
    registry=REGISTRY)
REPO_ERRORS = Counter(
    "pgkeel_repo_errors", "Repository calls that raised, by error code.",
    ["repo", "operation", "error"], registry=REGISTRY)

_DATABASES: weakref.WeakSet[PoolSource] = weakref.WeakSet()

# psycopg_pool stat key -> (metric suffix, help, is_counter, scale to base unit)
_POOL_STATS: dict[str, tuple[str, str, bool, float]] = {
    "pool_size": ("size", "Connections managed by the pool.", False, 1.0),
    "pool_available": ("available", "Idle connections in the pool.", False, 1.0),
    "requests_waiting": ("requests_waiting", "Requests queued for a connection.", False, 1.0),
    "requests_num": ("requests", "Connections requested.", True, 1.0),
    "requests_queued": ("requests_queued", "Requests that had to wait.", True, 1.0),
    "requests_wait_ms": ("requests_wait_seconds", "Time spent waiting for a connection.",
                         True, 0.001),
    "requests_errors": ("requests_errors", "Failed connection requests.", True, 1.0),
    "connections_num": ("connections", "Connection attempts to the server.", True, 1.0),
    "connections_errors": ("connection_errors", "Failed connection attempts.", True, 1.0),
    "connections_lost": ("connections_lost", "Connections found broken.", True, 1.0),
}


class _PoolCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for key, (suffix, text, counter, _) in _POOL_STATS.items():
            name = f"pgkeel_pool_{suffix}"
            families[key] = (CounterMetricFamily(name, text, labels=["pool"]) if counter
                             else GaugeMetricFamily(name, text, labels=["pool"]))
        for database in list(_DATABASES):
            for pool_name, stats in database.pool_stats().items():
                for key, (_, _, _, scale) in _POOL_STATS.items():
                    families[key].add_metric([pool_name], stats.get(key, 0) * scale)
        yield from families.values()


REGISTRY.register(_PoolCollector())


def track_database(database: PoolSource) -> None:
    """Include this database's pools in the metrics (held weakly)."""
    _DATABASES.add(database)


def render_latest() -> bytes:
    """The text exposition of every pgkeel metric."""
    return generate_latest(REGISTRY)
