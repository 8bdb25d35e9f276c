"""The payments' maintenance jobs (run by `pgkeel maintain` as the schema owner, so across
organizations): stale payments expire every 5 minutes, analytics roll up hourly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pgkeel.ops import JobContext, JobRegistry
from pgkeel_apps.commerce.payment.service import CLEANUP_PAYMENTS, REFRESH_ANALYTICS

JOBS = JobRegistry()


@JOBS.job("commerce.cleanup_expired_payments", every=timedelta(minutes=5))
async def cleanup_expired_payments(ctx: JobContext) -> Any:
    """Expire pending payments past 15 minutes and authorizations whose hold lapsed
    (cleanup_expired_payments())."""
    async with ctx.transaction() as tx:
        return {"expired": await tx.fetch_val(CLEANUP_PAYMENTS, (10_000,))}


@JOBS.job("commerce.refresh_payment_analytics", every=timedelta(hours=1))
async def refresh_payment_analytics(ctx: JobContext) -> Any:
    """Roll today's payment transactions up into payment_analytics."""
    async with ctx.transaction() as tx:
        return {"rows": await tx.fetch_val(REFRESH_ANALYTICS)}
