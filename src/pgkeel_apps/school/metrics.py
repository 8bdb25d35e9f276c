"""student_metrics_mv: its refresh (on demand, on a schedule) and when it last happened.

`refresh_student_metrics(db)` runs the SQL function `school.refresh_student_metrics()`, which
refreshes CONCURRENTLY as the view's owner and records the time; `pgkeel maintain` runs it on
a schedule (the job `school.refresh_student_metrics`, in `pgkeel_apps.school.jobs`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, LiteralString

from pgkeel.db import Database

REFRESH: LiteralString = (
    "SELECT refreshed_at, duration_ms, row_count FROM school.refresh_student_metrics()")
LAST_REFRESH: LiteralString = (
    "SELECT refreshed_at, duration_ms, row_count FROM school.metrics_refreshes "
    "WHERE view_name = 'student_metrics_mv'")


@dataclass(frozen=True)
class Refresh:
    """One refresh of student_metrics_mv: the data are as of `refreshed_at`."""

    refreshed_at: dt.datetime
    duration_ms: float
    row_count: int

    def to_api(self) -> dict[str, Any]:
        return {"refreshedAt": self.refreshed_at.isoformat(),
                "durationMs": round(self.duration_ms, 1), "students": self.row_count}


def _refresh(row: dict[str, Any] | None) -> Refresh | None:
    if row is None:
        return None
    return Refresh(row["refreshed_at"], float(row["duration_ms"]), int(row["row_count"]))


async def refresh_student_metrics(db: Database) -> Refresh:
    """Refresh the view CONCURRENTLY (readers are never blocked) and record the time. Runs
    on the primary with no statement timeout: a refresh takes as long as the data need."""
    async with db.transaction(timeout=0) as tx:
        row = await tx.fetch_one(REFRESH)
    refresh = _refresh(row)
    assert refresh is not None
    return refresh


async def last_refresh(db: Database, *, replica: bool = False) -> Refresh | None:
    """The last refresh, or None when the view has never been refreshed."""
    return _refresh(await db.fetch_one(LAST_REFRESH, replica=replica))
