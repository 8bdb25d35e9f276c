"""Operating the outbox: backlog statistics, dead letters, replay, pruning.

`prune` deletes published rows in small batches, each its own short transaction that skips
rows another session holds, so it never takes long locks; `pgkeel outbox prune` and periodic
maintenance call it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, LiteralString

from pgkeel.db import Database
from pgkeel.errors import OutboxEventNotFound, UsageError
from pgkeel.outbox import queries
from pgkeel.outbox.schema import translated

__all__ = ["DeadEvent", "OutboxStats", "dead_events", "prune", "replay", "stats"]


@dataclass(frozen=True)
class OutboxStats:
    """Counts by status; `due` pending events could be claimed now, `parked` ones wait behind a
    dead event of their partition key. Events being published right now count as pending."""

    pending: int = 0
    due: int = 0
    parked: int = 0
    published: int = 0
    dead: int = 0
    oldest_pending_age_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeadEvent:
    """An event that ran out of attempts."""

    id: uuid.UUID
    event_type: str
    aggregate_type: str
    aggregate_id: str
    partition_key: str | None
    org_id: str | None
    attempts: int
    max_attempts: int
    last_error: str | None
    created_at: datetime
    payload: Any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def stats(db: Database) -> OutboxStats:
    """The outbox's backlog (one scan of the table: for operators, not for hot paths)."""
    rows = await _fetch(db, queries.STATUS_COUNTS, None)
    counts: dict[str, Any] = {}
    oldest = 0.0
    for status, count, due, parked, age in rows:
        counts[status] = count
        if status == "pending":
            counts.update(due=due, parked=parked)
            oldest = age
    return OutboxStats(**counts, oldest_pending_age_s=oldest)


async def dead_events(db: Database, *, limit: int = 100) -> list[DeadEvent]:
    """Dead events, oldest first."""
    rows = await _fetch(db, queries.LIST_DEAD, (limit,))
    return [DeadEvent(*row) for row in rows]


async def replay(db: Database, ids: Sequence[uuid.UUID | str] | None = None, *,
                 all_dead: bool = False) -> list[uuid.UUID]:
    """Give dead events (these `ids`, or every one with `all_dead`) fresh attempts; the events
    parked behind them follow. Raises OutboxEventNotFound if an id is not a dead event."""
    if all_dead == (ids is not None):
        raise UsageError("replay() needs either ids or all_dead=True.")
    wanted = [uuid.UUID(str(i)) for i in ids or ()]
    rows = await _fetch(db, queries.REPLAY, {"all": all_dead, "ids": wanted})
    replayed = [row[0] for row in rows]
    missing = sorted(set(map(str, wanted)) - set(map(str, replayed)))
    if missing:
        raise OutboxEventNotFound(
            f"{len(missing)} of the given events are not dead events; the others were replayed.",
            details={"missing": missing, "replayed": [str(i) for i in replayed]},
            hint="List them with `pgkeel outbox dead`.")
    return replayed


async def prune(db: Database, older_than: timedelta, *, batch_size: int = 1_000) -> int:
    """Delete events published more than `older_than` ago; returns how many."""
    if batch_size < 1:
        raise UsageError("batch_size must be positive.")
    total = 0
    while True:
        with translated():
            deleted = await db.execute(queries.PRUNE_BATCH,
                                       (older_than.total_seconds(), batch_size))
        total += deleted
        if deleted < batch_size:
            return total


async def _fetch(db: Database, query: LiteralString, params: Any) -> list[tuple[Any, ...]]:
    with translated():
        async with db.transaction() as tx:
            return await tx.fetch_all(query, params, row_factory=lambda _: tuple)
