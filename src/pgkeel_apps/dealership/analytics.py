"""Analytics: beacons in (through `BeaconWriter`), view counters in Redis
(`analytics:views:{carId}`, flushed to `cars.view_count`), daily aggregates per car, and the
staff dashboards."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, LiteralString

from pgkeel.cache import TTL, Cache, Counters
from pgkeel.db import Database, current_context, use_context
from pgkeel_apps.dealership import cache_keys as keys
from pgkeel_apps.dealership.beacons import BeaconWriter

VIEWS_PER_DAY: LiteralString = """
SELECT d.car_id, c.slug, c.brand, c.model, d.day, d.views, d.sessions
FROM dealership.car_view_daily AS d
JOIN dealership.cars AS c ON c.organization_id = d.organization_id AND c.id = d.car_id
WHERE d.organization_id = %s AND d.day >= current_date - %s
ORDER BY d.day DESC, d.views DESC, d.car_id
LIMIT 5000
"""
TOP_CARS: LiteralString = """
SELECT d.car_id, c.slug, c.brand, c.model, sum(d.views)::bigint AS views,
       sum(d.sessions)::bigint AS sessions
FROM dealership.car_view_daily AS d
JOIN dealership.cars AS c ON c.organization_id = d.organization_id AND c.id = d.car_id
WHERE d.organization_id = %s AND d.day >= current_date - %s
GROUP BY d.car_id, c.slug, c.brand, c.model
ORDER BY views DESC, d.car_id
LIMIT %s
"""
VITALS: LiteralString = """
SELECT path, name, count(*) AS samples,
       percentile_cont(0.75) WITHIN GROUP (ORDER BY value) AS p75
FROM dealership.web_vitals
WHERE organization_id = %s AND created_at >= now() - make_interval(days => %s)
  AND name IN ('LCP', 'INP', 'CLS')
GROUP BY path, name
ORDER BY path, name
LIMIT 3000
"""
ADD_VIEWS: LiteralString = """
UPDATE dealership.cars AS c SET view_count = c.view_count + v.n
FROM unnest(%s::uuid[], %s::bigint[]) AS v(id, n)
WHERE c.organization_id = %s AND c.id = v.id
"""
DEALERS: LiteralString = "SELECT DISTINCT organization_id FROM dealership.cars"
AGGREGATED: LiteralString = """
SELECT DISTINCT organization_id FROM dealership.car_view_daily WHERE day >= %s
UNION SELECT DISTINCT organization_id FROM dealership.web_vitals WHERE created_at >= %s
"""
REFRESH_DAILY: LiteralString = "SELECT dealership.refresh_car_view_daily(%s)"
ENSURE_PARTITIONS: LiteralString = "SELECT dealership.ensure_analytics_partitions(%s, %s)"
DROP_PARTITIONS: LiteralString = "SELECT dealership.drop_analytics_partitions(%s)"

VIEWS_COUNTER: Final = "analytics.views"
"""The report's `analytics:views:{carId}` (24 hours)."""


def view_counters(redis: Any, prefix: str) -> Counters:
    return Counters(redis, name=VIEWS_COUNTER, prefix=prefix, ttl_s=TTL.DAY)


class Analytics:
    """Beacon intake and dashboards for the organization in the request context."""

    def __init__(self, db: Database, writer: BeaconWriter, counters: Counters,
                 cache: Cache) -> None:
        self.db = db
        self.cache = cache
        self.writer = writer
        self.counters = counters
        self.counter_errors = 0
        """Views whose Redis counter could not be incremented (the row was still queued)."""

    async def car_view(self, car_id: uuid.UUID, session_id: str | None, ip: str | None,
                       user_agent: str | None, referrer: str | None) -> None:
        org = current_context().org_id
        self.writer.offer("car_views", org, (car_id, session_id, ip, user_agent, referrer,
                                             dt.datetime.now(dt.UTC)))
        try:
            await self.counters.incr(car_id, org=org)
        except Exception:
            self.counter_errors += 1

    def page_view(self, path: str, session_id: str | None, referrer: str | None,
                  load_time_ms: int | None) -> None:
        self.writer.offer("page_views", current_context().org_id,
                          (path, session_id, referrer, load_time_ms, dt.datetime.now(dt.UTC)))

    def web_vital(self, name: str, value: float, path: str, rating: str | None) -> None:
        self.writer.offer("web_vitals", current_context().org_id,
                          (name, value, path, rating, dt.datetime.now(dt.UTC)))

    async def _dashboard(self, name: str, params: tuple[int, ...],
                         load: Callable[[], Awaitable[list[dict[str, Any]]]]
                         ) -> list[dict[str, Any]]:
        """A dashboard, cached for the report's 24 hours under the `analytics` tag, which
        the aggregate job invalidates each time it has run."""
        result: list[dict[str, Any]] = await self.cache.get_or_set(
            keys.analytics(self.cache, name, *params), load, ttl=keys.ANALYTICS_TTL,
            tags=[keys.ANALYTICS_TAG])
        return result

    async def views_per_day(self, days: int) -> list[dict[str, Any]]:
        async def load() -> list[dict[str, Any]]:
            rows = await self.db.fetch_all(VIEWS_PER_DAY, (current_context().org_id, days),
                                           readonly=True)
            return [{"carId": str(r["car_id"]), "slug": r["slug"], "brand": r["brand"],
                     "model": r["model"], "day": r["day"].isoformat(), "views": r["views"],
                     "sessions": r["sessions"]} for r in rows]
        return await self._dashboard("views", (days,), load)

    async def top_cars(self, days: int, limit: int) -> list[dict[str, Any]]:
        async def load() -> list[dict[str, Any]]:
            rows = await self.db.fetch_all(TOP_CARS, (current_context().org_id, days, limit),
                                           readonly=True)
            return [{"carId": str(r["car_id"]), "slug": r["slug"], "brand": r["brand"],
                     "model": r["model"], "views": r["views"], "sessions": r["sessions"]}
                    for r in rows]
        return await self._dashboard("top", (days, limit), load)

    async def web_vitals(self, days: int) -> list[dict[str, Any]]:
        async def load() -> list[dict[str, Any]]:
            rows = await self.db.fetch_all(VITALS, (current_context().org_id, days),
                                           readonly=True)
            return [{"path": r["path"], "name": r["name"], "samples": r["samples"],
                     "p75": r["p75"]} for r in rows]
        return await self._dashboard("vitals", (days,), load)


async def flush_view_counters(owner: Database, counters: Counters) -> int:
    """Add every organization's drained view counts to `cars.view_count`; returns the views
    flushed. Runs as the schema owner (it crosses organizations)."""
    total = 0
    for row in await owner.fetch_all(DEALERS):
        org = row["organization_id"]
        drained = await counters.drain(org=org)
        if not drained:
            continue
        ids = [uuid.UUID(k) for k in drained]
        with use_context(org_id=org):
            await owner.execute(ADD_VIEWS, (ids, list(drained.values()), org))
        total += sum(drained.values())
    return total


async def refresh_daily(owner: Database, *, days: int = 2, cache: Cache | None = None) -> int:
    """Recompute the daily view counts of the last `days` days, then drop the cached
    dashboards (the `analytics` tag) of every organization with new data."""
    since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    rows = int(await owner.fetch_val(REFRESH_DAILY, (since,)))
    if cache is not None:
        for row in await owner.fetch_all(AGGREGATED, (since, since)):
            await cache.invalidate(keys.ANALYTICS_TAG, org=row["organization_id"])
    return rows


async def maintain_partitions(owner: Database, *, keep_months: int = 13) -> dict[str, int]:
    """Create the next months' partitions and drop the ones older than `keep_months`."""
    today = dt.datetime.now(dt.UTC).date().replace(day=1)
    created = await owner.fetch_val(ENSURE_PARTITIONS, (today, 3))
    cutoff = (today - dt.timedelta(days=31 * keep_months)).replace(day=1)
    dropped = await owner.fetch_val(DROP_PARTITIONS, (cutoff,))
    return {"created": int(created), "dropped": int(dropped)}
