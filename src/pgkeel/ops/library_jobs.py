"""The library's own maintenance jobs: ANALYZE and VACUUM of the tables that need it,
rebuilding invalid indexes, pruning published outbox rows, reaping idempotency keys, and the
audit log's partitions and retention.

Every statement runs under the maintain lock_timeout; a table whose lock is not granted in
time is left for the next run (listed under `lock_timeout` in the result), so maintenance
never queues writers behind it for longer than that.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, LiteralString

import psycopg

from pgkeel import idempotency, outbox
from pgkeel.audit import partitions
from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.errors import MaintenanceFailed, OutboxNotInstalled
from pgkeel.ops import queries
from pgkeel.ops.jobs import JobContext, JobRegistry, Skipped
from pgkeel.ops.schema import translated

__all__ = ["library_jobs"]



async def _installed(db: Database, table: str) -> bool:
    return bool(await db.fetch_val(queries.RELATION_EXISTS, (table,)))


async def _run_statements(ctx: JobContext, listing: LiteralString, params: tuple[Any, ...]
                          ) -> dict[str, Any]:
    """Run each statement `listing` returns, in autocommit, each under the lock_timeout."""
    with translated():
        rows = await ctx.db.fetch_all(listing, params)
    done: list[str] = []
    lock_timeout: list[str] = []
    failed: dict[str, str] = {}
    async with ctx.autocommit() as conn:
        for row in rows:
            target = f"{row['schema_name']}.{row.get('table_name') or row['index_name']}"
            try:
                await conn.execute(row["sql"].encode())
            except psycopg.errors.LockNotAvailable:
                lock_timeout.append(target)
            except psycopg.DatabaseError as exc:  # this one fails; the others still run
                failed[target] = f"{row['sql']}: {str(exc).strip()}"
            else:
                done.append(target)
    result = {"done": done, "lock_timeout": lock_timeout}
    if failed:
        raise MaintenanceFailed("; ".join(failed.values()), details={**result, "failed": failed})
    return result


async def analyze(ctx: JobContext) -> dict[str, Any]:
    """ANALYZE every table changed enough since its last analyze."""
    return await _run_statements(ctx, queries.ANALYZE_LIST,
                                 (ctx.settings.maintain_analyze_min_rows, 0.1, None))


async def vacuum(ctx: JobContext) -> dict[str, Any]:
    """VACUUM (ANALYZE, TRUNCATE false) every table with enough dead rows."""
    return await _run_statements(ctx, queries.VACUUM_LIST,
                                 (ctx.settings.maintain_vacuum_min_rows, 0.2, None))


async def reindex_invalid(ctx: JobContext) -> dict[str, Any]:
    """REINDEX CONCURRENTLY invalid indexes (drop a failed REINDEX's leftovers)."""
    return await _run_statements(ctx, queries.REINDEX_LIST, (None,))


async def outbox_prune(ctx: JobContext) -> dict[str, Any] | Skipped:
    """Delete outbox events published longer ago than OUTBOX_RETENTION_S."""
    try:
        deleted = await outbox.prune(ctx.db,
                                     timedelta(seconds=ctx.settings.outbox_retention_s))
    except OutboxNotInstalled:
        return Skipped("the outbox schema is not installed")
    return {"deleted": deleted}


async def idempotency_reap(ctx: JobContext) -> dict[str, Any] | Skipped:
    """Delete expired idempotency keys and stale in-flight locks."""
    if not await _installed(ctx.db, "idempotency.idempotency_keys"):
        return Skipped("the idempotency schema is not installed")
    report = await idempotency.reap(ctx.db,
                                    batch_size=ctx.settings.idempotency_reap_batch_size)
    return report.to_dict()


async def audit_partitions(ctx: JobContext) -> dict[str, Any] | Skipped:
    """Create the audit log's monthly partitions AUDIT_PARTITIONS_AHEAD months ahead."""
    if not await _installed(ctx.db, "audit.audit_log"):
        return Skipped("the audit schema is not installed")
    created = await partitions.create_partitions(
        ctx.db, months_ahead=ctx.settings.audit_partitions_ahead,
        lock_timeout_s=ctx.lock_timeout_s)
    return {"created": created}


async def audit_retention(ctx: JobContext) -> dict[str, Any] | Skipped:
    """Drop audit partitions older than MAINTAIN_AUDIT_RETENTION_DAYS (0: keep all)."""
    days = ctx.settings.maintain_audit_retention_days
    if days == 0:
        return Skipped("MAINTAIN_AUDIT_RETENTION_DAYS is 0: the audit log is kept forever")
    if not await _installed(ctx.db, "audit.audit_log"):
        return Skipped("the audit schema is not installed")
    report = await partitions.prune(ctx.db, older_than=timedelta(days=days),
                                    lock_timeout_s=ctx.lock_timeout_s)
    return {"cutoff": report.cutoff.isoformat(), "dropped": report.partitions}


def library_jobs(settings: Settings) -> JobRegistry:
    """The library's jobs, with intervals from the MAINTAIN_* settings."""
    hourly = timedelta(seconds=settings.maintain_tables_every_s)
    registry = JobRegistry()
    registry.add("pgkeel.analyze", analyze, every=hourly)
    registry.add("pgkeel.vacuum", vacuum, every=hourly)
    registry.add("pgkeel.reindex_invalid", reindex_invalid, every=hourly)
    registry.add("pgkeel.outbox_prune", outbox_prune,
                 every=timedelta(seconds=settings.maintain_cleanup_every_s))
    registry.add("pgkeel.idempotency_reap", idempotency_reap,
                 every=timedelta(seconds=settings.maintain_cleanup_every_s))
    registry.add("pgkeel.audit_partitions", audit_partitions, every=timedelta(days=1))
    registry.add("pgkeel.audit_retention", audit_retention, every=timedelta(days=1))
    return registry
