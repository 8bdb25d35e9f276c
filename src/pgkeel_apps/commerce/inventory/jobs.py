"""The inventory's maintenance jobs (run by `pgkeel maintain` as the schema owner, so across
organizations): expired holds released every minute, the catalog's shown stock brought up to
date every minute, analytics rolled up hourly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pgkeel.ops import JobContext, JobRegistry
from pgkeel_apps.commerce.inventory.service import (
    CLEANUP_RESERVATIONS,
    REFRESH_ANALYTICS,
    SYNC_CATALOG_STOCK,
)

JOBS = JobRegistry()


@JOBS.job("commerce.cleanup_expired_reservations", every=timedelta(minutes=1))
async def cleanup_expired_reservations(ctx: JobContext) -> Any:
    """Release inventory holds past their 5 minutes (cleanup_expired_reservations())."""
    async with ctx.transaction() as tx:
        return {"released": await tx.fetch_val(CLEANUP_RESERVATIONS, (10_000,))}


@JOBS.job("commerce.refresh_inventory_analytics", every=timedelta(hours=1))
async def refresh_inventory_analytics(ctx: JobContext) -> Any:
    """Roll today's stock movements up into inventory_analytics."""
    async with ctx.transaction() as tx:
        return {"rows": await tx.fetch_val(REFRESH_ANALYTICS)}


@JOBS.job("commerce.sync_catalog_stock", every=timedelta(minutes=1))
async def sync_catalog_stock(ctx: JobContext) -> Any:
    """Copy available stock into the catalog's products.stock_quantity (sync_catalog_stock())."""
    async with ctx.transaction() as tx:
        return {"products": await tx.fetch_val(SYNC_CATALOG_STOCK)}
