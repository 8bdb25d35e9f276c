"""Sample car views for `make demo`: DEMO_CAR_VIEWS views (1,000,000) over the last 90 days,
COPYed as the schema owner into the monthly partitions (created first), then the daily
aggregates per car and `cars.view_count` computed from them -- so the dashboards have
something to show from the first request.

A million rows is where adapting each value in Python would dominate, so the rows are
formatted as COPY text directly, a day at a time in time order. Popularity is skewed (a few
cars get most views, as on a real site) and a session views a few cars."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import random
import time
import uuid
from collections.abc import Sequence
from operator import itemgetter
from typing import Final, LiteralString

from pgkeel.db import Database
from pgkeel_apps.dealership.tables import SCHEMA
from pgkeel_apps.sample import copy_text

log = logging.getLogger("pgkeel_apps.dealership")

VIEW_DAYS: Final = 90
"""Sample views are spread over this many days before now."""
DAYS_PER_COPY: Final = 10
"""Days of views per COPY (one transaction each, well within the statement timeout)."""
VIEW_COLUMNS: Final = ("organization_id", "car_id", "session_id", "ip_address", "user_agent",
                       "referrer", "created_at")
USER_AGENTS: Final = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/133.0",
                      "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Safari/605.1.15",
                      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148",
                      "Mozilla/5.0 (Linux; Android 15) Chrome/131.0 Mobile")
REFERRERS: Final = ("\\N", "\\N", "https://www.google.com/", "https://www.bing.com/",
                    "https://www.facebook.com/", "https://www.example.com/cars")

CLOCK: Final = tuple(f"{s // 3600:02}:{s // 60 % 60:02}:{s % 60:02}+00\n" for s in range(86_400))
"""The time of day (and the line's end) for each second of a day."""

ENSURE_PARTITIONS: LiteralString = "SELECT dealership.ensure_analytics_partitions(%s, %s)"
REFRESH_DAILY: LiteralString = "SELECT dealership.refresh_car_view_daily(%s)"
VIEW_COUNTS: LiteralString = """
UPDATE dealership.cars AS c SET view_count = d.views
FROM (SELECT car_id, sum(views) AS views FROM dealership.car_view_daily
      WHERE organization_id = %s GROUP BY car_id) AS d
WHERE c.organization_id = %s AND c.id = d.car_id
"""


def _per_day(count: int, now: dt.datetime) -> list[int]:
    """How many of `count` views fall on each day, oldest first (today only so far)."""
    today = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    weights = [1.0] * (VIEW_DAYS - 1) + [today / 86_400]
    total = sum(weights)
    counts = [int(count * w / total) for w in weights]
    counts[-2] += count - sum(counts)
    return counts


class _Views:
    """COPY text for one dealer's views, a day at a time in time order (so the indexes on
    created_at are appended to, not split)."""

    def __init__(self, org: uuid.UUID, cars: Sequence[uuid.UUID], rng: random.Random,
                 now: dt.datetime) -> None:
        self.org = str(org)
        self.ids = [str(car) for car in cars]
        rng.shuffle(self.ids)
        # Zipf-like popularity: the car ranked r gets weight 1 / (r + 20).
        self.weights = list(itertools.accumulate(1 / (rank + 20)
                                                 for rank in range(len(self.ids))))
        self.rng = rng
        self.now = now

    def day(self, days_ago: int, count: int) -> str:
        rng = self.rng
        date = (self.now - dt.timedelta(days=days_ago)).date().isoformat()
        last = 86_400 if days_ago else max(1, int(
            (self.now - self.now.replace(hour=0, minute=0, second=0, microsecond=0))
            .total_seconds()))
        cars = rng.choices(self.ids, cum_weights=self.weights, k=count)
        random_ = rng.random   # randrange is the cost at a million rows: plain floats instead
        rows: list[tuple[int, str]] = []
        i = 0
        while i < count:   # a visitor: a few views from one IP and browser
            tail = (f"{rng.getrandbits(48):012x}\t198.51.100.{int(random_() * 254) + 1}\t"
                    f"{USER_AGENTS[int(random_() * len(USER_AGENTS))]}\t"
                    f"{REFERRERS[int(random_() * len(REFERRERS))]}\t{date} ")
            second = int(random_() * last)
            for car in cars[i:i + 1 + int(random_() * 5)]:
                rows.append((second, f"{self.org}\t{car}\t{tail}"))
                second = min(second + 5 + int(random_() * 115), last - 1)
                i += 1
        rows.sort(key=itemgetter(0))
        return "".join([line + CLOCK[s] for s, line in rows])


async def load_sample_views(db: Database, loaded: Sequence[tuple[uuid.UUID, list[uuid.UUID]]],
                            *, views: int, seed: int = 3) -> int:
    """COPY `views` car views per dealer just loaded (organization, car ids), then compute
    the daily aggregates and view counts; returns the views loaded."""
    if views == 0 or not loaded:
        return 0
    rng = random.Random(seed)  # noqa: S311 -- sample data, not secrets
    now = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    first = (now - dt.timedelta(days=VIEW_DAYS)).date().replace(day=1)
    months = (now.year - first.year) * 12 + now.month - first.month + 1
    await db.fetch_val(ENSURE_PARTITIONS, (first, months))
    total = 0
    for org, cars in loaded:
        if not cars:
            continue
        source = _Views(org, cars, rng, now)
        per_day = _per_day(views, now)
        for first_day in range(0, VIEW_DAYS, DAYS_PER_COPY):   # a transaction per few days
            await copy_text(db, SCHEMA, "car_views", VIEW_COLUMNS, (
                source.day(VIEW_DAYS - 1 - d, per_day[d])
                for d in range(first_day, min(first_day + DAYS_PER_COPY, VIEW_DAYS))))
        total += views
    if total:
        await db.execute("ANALYZE dealership.car_views")
        await db.fetch_val(REFRESH_DAILY, (first,))
        for org, _ in loaded:
            await db.execute(VIEW_COUNTS, (org, org))
        await db.execute("ANALYZE dealership.car_view_daily")
        log.info("dealership sample data: %d car views and their daily aggregates in %.1f s",
                 total, time.monotonic() - started)
    return total
