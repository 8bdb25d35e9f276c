"""`pgkeel stats`: table and index statistics, cache hit ratios and the slowest statements,
each read from one `ops.get_*()` function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgkeel.db import Database
from pgkeel.ops import queries
from pgkeel.ops.schema import translated

__all__ = ["DatabaseStats", "SlowQueries", "cache_hit_ratios", "database_stats",
           "index_usage", "slow_queries", "table_statistics"]

# What to do for each pg_stat_statements status other than 'ready'.
_ENABLE = {
    "not_available": "pg_stat_statements is not shipped with this server: install PostgreSQL's "
                     "contrib package, then follow the steps below.",
    "not_created": "pg_stat_statements is not created in this database: add it to "
                   "shared_preload_libraries if it is not there (restart), then run "
                   "CREATE EXTENSION pg_stat_statements;",
    "not_loaded": "pg_stat_statements is created but not loaded: set "
                  "shared_preload_libraries = 'pg_stat_statements' in postgresql.conf and "
                  "restart PostgreSQL.",
}


@dataclass(frozen=True)
class SlowQueries:
    """The slowest statements; `status` is pg_stat_statements' state ('ready' or why not),
    and `note` says how to enable it when it is not ready."""

    status: str
    queries: list[dict[str, Any]]
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "queries": self.queries, "note": self.note}


@dataclass(frozen=True)
class DatabaseStats:
    """Everything `pgkeel stats` prints."""

    tables: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    cache: list[dict[str, Any]]
    statements: SlowQueries

    def as_dict(self) -> dict[str, Any]:
        return {"tables": self.tables, "indexes": self.indexes, "cache": self.cache,
                "statements": self.statements.as_dict()}


async def table_statistics(db: Database) -> list[dict[str, Any]]:
    """`ops.get_table_statistics()`: sizes, rows, dead tuples, last vacuum and analyze."""
    with translated():
        return await db.fetch_all(queries.TABLE_STATISTICS, readonly=True)


async def index_usage(db: Database) -> list[dict[str, Any]]:
    """`ops.get_index_usage_statistics()`: scans and size per index, least used first."""
    with translated():
        return await db.fetch_all(queries.INDEX_USAGE, readonly=True)


async def cache_hit_ratios(db: Database) -> list[dict[str, Any]]:
    """`ops.get_cache_hit_ratios()`: hits, reads and ratio for tables and for indexes."""
    with translated():
        return await db.fetch_all(queries.CACHE_HIT_RATIOS, readonly=True)


async def slow_queries(db: Database, *, min_mean_ms: float = 20.0, min_calls: int = 100,
                       limit: int = 20) -> SlowQueries:
    """`ops.get_slow_queries()` (PgHero's defaults: 100 calls, 20 ms on average); without a
    usable pg_stat_statements, no statements and a note on how to enable it."""
    with translated():
        status = str(await db.fetch_val(queries.STATEMENTS_STATUS, readonly=True))
        rows = await db.fetch_all(queries.SLOW_QUERIES, (min_mean_ms, min_calls, limit),
                                  readonly=True)
    return SlowQueries(status, rows, _ENABLE.get(status))


async def database_stats(db: Database, *, min_mean_ms: float = 20.0, min_calls: int = 100,
                         limit: int = 20) -> DatabaseStats:
    """Tables, indexes, cache hit ratios and slow statements, for `pgkeel stats`."""
    return DatabaseStats(await table_statistics(db), await index_usage(db),
                         await cache_hit_ratios(db),
                         await slow_queries(db, min_mean_ms=min_mean_ms, min_calls=min_calls,
                                            limit=limit))
