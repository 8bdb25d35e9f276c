"""The school's maintenance job: refresh student_metrics_mv every five minutes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pgkeel.ops import JobContext, JobRegistry
from pgkeel_apps.school.metrics import REFRESH

JOBS = JobRegistry()


@JOBS.job("school.refresh_student_metrics", every=timedelta(minutes=5))
async def refresh_student_metrics_job(ctx: JobContext) -> Any:
    """Refresh student_metrics_mv CONCURRENTLY (readers never wait) and record when."""
    async with ctx.transaction() as tx:
        row = await tx.fetch_one(REFRESH)
    assert row is not None
    return {"refreshedAt": row["refreshed_at"].isoformat(), "students": row["row_count"],
            "durationMs": round(float(row["duration_ms"]), 1)}
