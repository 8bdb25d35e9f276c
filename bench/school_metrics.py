"""The school dashboards from student_metrics_mv against the same answer computed live from
the base tables: `python -m bench.school_metrics [--quick]`.

Runs against DATABASE_URL (else the embedded PostgreSQL) in a throw-away database: the
identity and school sample data (20 schools of 1,000 students, 500 courses, DEMO_ATTENDANCES
attendance records, default 200,000; the report's size is 2,000,000), then the at-risk list
and a student profile, each read from the view and live, interleaved, as one school. Prints
p50 / p95 per query and the live / view ratio (numbers are per machine: compare rows).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pgkeel.config import load_settings
from pgkeel.db import Database, use_context
from pgkeel.embedded import EmbeddedServers
from pgkeel.testing.databases import create_database, drop_database
from pgkeel_apps import main as service
from pgkeel_apps.identity import load_sample_data as load_people
from pgkeel_apps.school import load_sample_data as load_school
from pgkeel_apps.school.dashboards import Dashboards
from pgkeel_apps.school.settings import SchoolSettings


def _quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=20)
    return statistics.median(samples), cuts[18]


async def _compare(name: str, view: Callable[[], Awaitable[Any]],
                   live: Callable[[], Awaitable[Any]], n: int) -> list[str]:
    times: dict[str, list[float]] = {"view": [], "live": []}
    for _ in range(n):
        for kind, fn in (("view", view), ("live", live)):
            started = time.perf_counter()
            await fn()
            times[kind].append((time.perf_counter() - started) * 1000)
    (v50, v95), (l50, l95) = _quantiles(times["view"]), _quantiles(times["live"])
    return [f"| {name} | {v50:.2f} | {v95:.2f} | {l50:.2f} | {l95:.2f} | {l95 / v95:.1f}x |"]


async def main(quick: bool) -> None:
    servers = EmbeddedServers.for_settings(load_settings(), redis=False)
    admin = servers.settings.database_url
    assert admin is not None
    url = create_database(admin, prefix="pgkeel_bench")
    attendances = int(os.environ.get("DEMO_ATTENDANCES", "200000"))
    try:
        settings = servers.settings.model_copy(update={"database_url": url})
        async with Database(url, min_size=2, max_size=4) as db:
            await service.migrate(db, settings)
            started = time.perf_counter()
            await load_people(db, organizations=20, users=20_000, show_progress=False)
            await load_school(db, schools=20, students=20_000, courses=500,
                              attendances=attendances)
            loaded = time.perf_counter() - started
            org = await db.fetch_val("SELECT id FROM identity.organizations "
                                     "WHERE slug = 'org-1'")
            student = await db.fetch_val("SELECT student_id FROM school.student_metrics_mv "
                                         "WHERE organization_id = %s LIMIT 1", (org,))
            counts = await db.fetch_one("SELECT (SELECT count(*) FROM school.attendances) AS a,"
                                        " (SELECT count(*) FROM school.students) AS s")
            assert counts is not None
            dashboards = Dashboards(db, None, SchoolSettings())  # type: ignore[arg-type]
            n = 50 if quick else 300
            rows = ["| query | view p50 ms | view p95 ms | live p50 ms | live p95 ms | "
                    "live / view p95 |", "|---|---|---|---|---|---|"]
            with use_context(org_id=org):
                rows += await _compare("at-risk (50)",
                                       lambda: dashboards.at_risk(limit=50),
                                       lambda: dashboards.at_risk(limit=50, live=True), n)
                rows += await _compare("student profile",
                                       lambda: dashboards.profile(student),
                                       lambda: dashboards.profile(student, live=True), n)
            version = await db.fetch_val("SHOW server_version")
    finally:
        drop_database(admin, url)
    print(f"PostgreSQL {version}; {counts['s']:,} students, {counts['a']:,} attendance records "
          f"(loaded and refreshed in {loaded:.1f} s); {n} runs of each, interleaved\n")
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.school_metrics")
    parser.add_argument("--quick", action="store_true", help="50 runs instead of 300")
    asyncio.run(main(parser.parse_args().quick))
