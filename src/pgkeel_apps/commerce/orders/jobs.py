"""The orders' maintenance job (run by `pgkeel maintain` as the schema owner, so across
organizations): pending orders past 30 minutes expire, every minute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pgkeel.ops import JobContext, JobRegistry
from pgkeel_apps.commerce.orders.service import CLEANUP_ORDERS

JOBS = JobRegistry()


@JOBS.job("commerce.cleanup_expired_orders", every=timedelta(minutes=1))
async def cleanup_expired_orders(ctx: JobContext) -> Any:
    """Expire pending orders past their 30 minutes and release their stock
    (cleanup_expired_orders())."""
    async with ctx.transaction() as tx:
        return {"expired": await tx.fetch_val(CLEANUP_ORDERS, (10_000,))}
