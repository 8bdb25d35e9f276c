"""The SQL `pgkeel.ops` runs: calls of the `ops` schema's functions (the logic lives there)."""

from __future__ import annotations

from typing import Final

CHECK_DATABASE_HEALTH: Final = (
    "SELECT check_name, state, value, message, details"
    " FROM ops.check_database_health(%s::jsonb)")
TABLE_STATISTICS: Final = "SELECT * FROM ops.get_table_statistics()"
INDEX_USAGE: Final = "SELECT * FROM ops.get_index_usage_statistics()"
CACHE_HIT_RATIOS: Final = "SELECT * FROM ops.get_cache_hit_ratios()"
STATEMENTS_STATUS: Final = "SELECT ops.pg_stat_statements_status()"
SLOW_QUERIES: Final = "SELECT * FROM ops.get_slow_queries(%s, %s, %s)"
ADVISE: Final = (
    "SELECT kind, object, table_name, reason, sql, details FROM ops.advise(%s, %s, %s)")
# Redis INFO fields the health check reads.
REDIS_INFO_SECTIONS: Final = ("memory", "stats")
