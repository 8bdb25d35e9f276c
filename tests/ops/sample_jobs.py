"""A job registry of an app, for `pgkeel maintain --jobs tests.ops.sample_jobs:JOBS`: one
job that counts its runs in a table named by SAMPLE_JOBS_TABLE, one that always fails."""

from __future__ import annotations

import os
from datetime import timedelta

from psycopg import sql

from pgkeel.config import Settings
from pgkeel.ops import JobContext, JobRegistry

JOBS = JobRegistry()


@JOBS.job("sample.count_run", every=timedelta(hours=1))
async def count_run(ctx: JobContext) -> dict[str, int]:
    """Add one row to the table SAMPLE_JOBS_TABLE names."""
    schema, table = os.environ["SAMPLE_JOBS_TABLE"].split(".")
    async with ctx.transaction() as tx:
        await tx.execute(sql.SQL("INSERT INTO {} DEFAULT VALUES").format(
            sql.Identifier(schema, table)))
    return {"inserted": 1}


@JOBS.job("sample.always_fails", every=timedelta(hours=1))
async def always_fails(ctx: JobContext) -> None:
    """Fail, as a broken job does."""
    async with ctx.transaction() as tx:
        await tx.execute("SELECT 1 / 0")


def registry(settings: Settings) -> JobRegistry:
    """The factory form: a function of the settings."""
    return JobRegistry(JOBS)
