"""The dealership's maintenance jobs (`pgkeel maintain`): view counters to cars.view_count,
daily view aggregates (which drop the cached dashboards), and the analytics partitions and
their retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pgkeel.cache import Cache
from pgkeel.ops import JobContext, JobRegistry
from pgkeel.redis_client import connect_redis, is_memory_url
from pgkeel_apps.dealership.analytics import (
    flush_view_counters,
    maintain_partitions,
    refresh_daily,
    view_counters,
)

JOBS = JobRegistry()


@JOBS.job("dealership.flush_view_counters", every=timedelta(minutes=1))
async def flush_views(ctx: JobContext) -> Any:
    """Add the Redis view counters (analytics:views:{carId}) to cars.view_count."""
    url = ctx.settings.redis_url
    redis = None if url is None or is_memory_url(url) else connect_redis(url, timeout_s=5.0)
    try:
        return {"views": await flush_view_counters(
            ctx.db, view_counters(redis, ctx.settings.cache_prefix))}
    finally:
        if redis is not None:
            await redis.aclose()


@JOBS.job("dealership.refresh_car_view_daily", every=timedelta(minutes=15))
async def refresh_views_daily(ctx: JobContext) -> Any:
    """Recompute the last two days of views per car per day, then drop the cached analytics
    dashboards of the organizations with new data."""
    cache = None if ctx.settings.redis_url is None else Cache.from_settings(ctx.settings)
    try:
        return {"rows": await refresh_daily(ctx.db, cache=cache)}
    finally:
        if cache is not None:
            await cache.aclose()


@JOBS.job("dealership.analytics_partitions", every=timedelta(days=1))
async def analytics_partitions(ctx: JobContext) -> Any:
    """Create the next months' analytics partitions; drop those past 13 months."""
    return await maintain_partitions(ctx.db)
