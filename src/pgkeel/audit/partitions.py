"""Monthly partitions: created ahead of time, and retention by dropping whole partitions.

Both audit tables (`audit_log` and its `chain`) are partitioned by `created_at` in UTC
months with identical bounds, so a month is always created and dropped as a pair. Rows whose
month has no partition yet go to the default partition and are moved into their own
partition when it is created. Pruning never runs DELETE: it drops (or detaches) partitions,
after moving each organization's chain anchor past them so `verify` can tell pruned rows from
deleted ones.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

from psycopg.rows import dict_row

from pgkeel.db import Database
from pgkeel.errors import DatabaseError, UsageError

__all__ = ["Partition", "PruneReport", "create_partitions", "list_partitions", "parse_age",
           "prune"]

CREATE_PARTITIONS: LiteralString = "SELECT audit.create_partitions(%s, %s)"
LIST_PARTITIONS: LiteralString = (
    "SELECT parent, partition_name, lower_bound, upper_bound, estimated_rows, total_bytes"
    " FROM audit.partitions()")
DEFAULT_ROWS: LiteralString = "SELECT count(*) FROM audit.audit_log_default"
PRUNE: LiteralString = "SELECT audit.prune(%s, %s)"

_LOCK_NOT_AVAILABLE = "55P03"
_AGE = re.compile(r"^\s*(?P<n>[0-9]+)\s*(?P<unit>h|d|w|y)\s*$")
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
         "y": timedelta(days=365)}


@dataclass(frozen=True)
class Partition:
    """One partition of `audit_log` or `chain` (bounds are None for the default one)."""

    parent: str
    name: str
    lower_bound: datetime | None
    upper_bound: datetime | None
    estimated_rows: int
    total_bytes: int


@dataclass(frozen=True)
class PruneReport:
    """What `prune` dropped (or, in a dry run, would drop)."""

    cutoff: datetime
    partitions: list[str]
    detached: bool
    dry_run: bool


def parse_age(text: str) -> timedelta:
    """'365d', '12w', '48h' or '1y' (= 365 days) as a timedelta."""
    match = _AGE.match(text)
    if not match or int(match["n"]) <= 0:
        raise UsageError(f"Invalid age {text!r}.", hint="Use e.g. 365d, 12w, 48h or 1y.")
    return int(match["n"]) * _UNIT[match["unit"]]


async def _with_lock_retries(db: Database, query: LiteralString, params: tuple[Any, ...],
                             *, lock_timeout_s: float, retries: int) -> list[Any]:
    """Run a DDL function with a short lock_timeout, retrying when the lock is busy, so it
    never queues the application's audit writes behind it for long."""
    attempt = 0
    while True:
        try:
            async with db.transaction(lock_timeout=lock_timeout_s, timeout=0) as tx:
                return [row[0] for row in await tx.fetch_all(query, params,
                                                             row_factory=_tuples)]
        except DatabaseError as exc:
            attempt += 1
            if exc.sqlstate != _LOCK_NOT_AVAILABLE or attempt > retries:
                raise
            await asyncio.sleep(min(0.2 * 2 ** attempt, 5.0))


async def create_partitions(db: Database, *, months_ahead: int = 3,
                            from_time: datetime | None = None, lock_timeout_s: float = 2.0,
                            retries: int = 5) -> list[str]:
    """Create the partitions of the current month (or `from_time`'s) and `months_ahead`
    months after it that do not exist yet; returns their names."""
    if not 0 <= months_ahead <= 240:
        raise UsageError("months_ahead must be between 0 and 240.")
    return await _with_lock_retries(db, CREATE_PARTITIONS,
                                    (months_ahead, from_time or datetime.now(UTC)),
                                    lock_timeout_s=lock_timeout_s, retries=retries)


async def list_partitions(db: Database) -> list[Partition]:
    """Every partition of both audit tables, oldest first, default partitions last."""
    rows = await db.fetch_all(LIST_PARTITIONS, row_factory=dict_row)
    return [Partition(parent=r["parent"], name=r["partition_name"],
                      lower_bound=r["lower_bound"], upper_bound=r["upper_bound"],
                      estimated_rows=r["estimated_rows"], total_bytes=r["total_bytes"])
            for r in rows]


async def default_partition_rows(db: Database) -> int:
    """Rows in the default partition: > 0 means partitions were not created ahead in time."""
    return int(await db.fetch_val(DEFAULT_ROWS))


async def prune(db: Database, *, older_than: timedelta | None = None,
                cutoff: datetime | None = None, detach: bool = False, dry_run: bool = False,
                lock_timeout_s: float = 5.0, retries: int = 5) -> PruneReport:
    """Drop (or, with `detach`, detach) every monthly partition that ends at or before the
    cutoff (`now - older_than`, or `cutoff`). Partitions are whole months: rows younger than
    the cutoff are never removed, so up to a month more than asked may be kept."""
    if (older_than is None) == (cutoff is None):
        raise UsageError("Give exactly one of older_than and cutoff.")
    limit = cutoff if cutoff is not None else datetime.now(UTC) - (older_than or timedelta())
    if limit.tzinfo is None:
        raise UsageError("cutoff must be timezone-aware.")
    if dry_run:
        names = [p.name for p in await list_partitions(db)
                 if p.upper_bound is not None and p.upper_bound <= limit]
        return PruneReport(limit, names, detach, True)
    names = await _with_lock_retries(db, PRUNE, (limit, detach),
                                     lock_timeout_s=lock_timeout_s, retries=retries)
    return PruneReport(limit, names, detach, False)


def _tuples(cursor: Any) -> Any:
    return tuple
