"""Operations: health checks with Nagios exit codes, database statistics, index advice.

The logic lives in SQL functions of schema `ops` (installed by `install`), so `pgkeel health`,
`pgkeel stats`, the library and psql all give the same answers.

Public API:
    check_health, check_database, check_pool, HealthReport, Check, State, thresholds
                                                                           (`.health`)
    database_stats, table_statistics, index_usage, cache_hit_ratios, slow_queries,
    DatabaseStats, SlowQueries                                             (`.stats`)
    advise, Advice                          index and table advice with its SQL (`.advise`)
    History, run_sampler, sample            a service's recent history for /ops (`.history`)
    what_if, WhatIf, hypopg_missing         hypothetical-index costs with hypopg (`.whatif`)
    SCHEMA, MIGRATIONS, install                     the library migration set (`.schema`)
    JobRegistry, Job, JobContext, JobFn, Skipped, refresh_view, load_registry
                                    maintenance jobs, the apps' and the library's (`.jobs`)
    library_jobs                    ANALYZE, VACUUM, invalid indexes, outbox, idempotency,
                                    audit partitions and retention (`.library_jobs`)
    run_jobs, job_states, JobRun, Maintainer, run_maintenance
                                    run them once, or on schedule with one leader (`.maintain`)
"""

from pgkeel.ops.advise import Advice, advise
from pgkeel.ops.health import (
    Check,
    HealthReport,
    State,
    check_database,
    check_health,
    check_pool,
    thresholds,
)
from pgkeel.ops.history import History, run_sampler, sample
from pgkeel.ops.jobs import (
    Job,
    JobContext,
    JobFn,
    JobRegistry,
    Skipped,
    load_registry,
    refresh_view,
)
from pgkeel.ops.library_jobs import library_jobs
from pgkeel.ops.maintain import JobRun, Maintainer, job_states, run_jobs, run_maintenance
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
from pgkeel.ops.whatif import WhatIf, hypopg_missing, what_if

__all__ = [
    "MIGRATIONS",
    "SCHEMA",
    "Advice",
    "Check",
    "DatabaseStats",
    "HealthReport",
    "History",
    "Job",
    "JobContext",
    "JobFn",
    "JobRegistry",
    "JobRun",
    "Maintainer",
    "Skipped",
    "SlowQueries",
    "State",
    "WhatIf",
    "advise",
    "cache_hit_ratios",
    "check_database",
    "check_health",
    "check_pool",
    "database_stats",
    "hypopg_missing",
    "index_usage",
    "install",
    "job_states",
    "library_jobs",
    "load_registry",
    "refresh_view",
    "run_jobs",
    "run_maintenance",
    "run_sampler",
    "sample",
    "slow_queries",
    "table_statistics",
    "thresholds",
    "what_if",
]
