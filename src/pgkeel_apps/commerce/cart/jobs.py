"""The cart's maintenance job: cleanup_expired_carts in every organization, hourly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, LiteralString

from pgkeel.ops import JobContext, JobRegistry, Skipped
from pgkeel.redis_client import connect_redis, is_memory_url
from pgkeel_apps.commerce.cart.service import CartService

ORGANIZATIONS: LiteralString = "SELECT id FROM identity.organizations ORDER BY id"

JOBS = JobRegistry()


@JOBS.job("commerce.cleanup_expired_carts", every=timedelta(hours=1))
async def cleanup_expired_carts(ctx: JobContext) -> Any:
    """Delete carts unchanged for CART_TTL_S and forget the ones Redis expired."""
    url = ctx.settings.redis_url
    if url is None or is_memory_url(url):
        return Skipped("no Redis server (REDIS_URL): carts live in Redis")
    redis = connect_redis(url, timeout_s=5.0)
    try:
        carts = CartService(redis, ctx.db, prefix=ctx.settings.cache_prefix)
        deleted = 0
        for row in await ctx.db.fetch_all(ORGANIZATIONS):
            deleted += await carts.cleanup_expired(row["id"])
        return {"deleted": deleted}
    finally:
        await redis.aclose()
