"""Operations: health checks with Nagios exit codes, database statistics, index advice.

The logic lives in SQL functions of schema `ops` (installed by `install`), so `pgkeel health`,
`pgkeel stats`, the library and psql all give the same answers.

Public API:
    check_health, check_database, HealthReport, Check, State, thresholds   (`.health`)
    database_stats, table_statistics, index_usage, cache_hit_ratios, slow_queries,
    DatabaseStats, SlowQueries                                             (`.stats`)
    advise, Advice                          index and table advice with its SQL (`.advise`)
    SCHEMA, MIGRATIONS, install                     the library migration set (`.schema`)
"""

from pgkeel.ops.advise import Advice, advise
from pgkeel.ops.health import Check, HealthReport, State, check_database, check_health, thresholds
from pgkeel.ops.schema import MIGRATIONS, SCHEMA, install
from pgkeel.ops.stats import (
    DatabaseStats,
    SlowQueries,
    cache_hit_ratios,
    database_stats,
    index_usage,
    slow_queries,
    table_statistics,
)

__all__ = [
    "MIGRATIONS",
    "SCHEMA",
    "Advice",
    "Check",
    "DatabaseStats",
    "HealthReport",
    "SlowQueries",
    "State",
    "advise",
    "cache_hit_ratios",
    "check_database",
    "check_health",
    "database_stats",
    "index_usage",
    "install",
    "slow_queries",
    "table_statistics",
    "thresholds",
]
