"""The school dashboards from student_metrics_mv against the same answer computed live from
the base tables: part of `python -m bench` (scenarios `school_at_risk`, `school_profile`),
or alone with `python -m bench.school_metrics [--quick]`.

Runs in a database of its own on the bench's server (`<profile database>_school`, kept
between runs like the main data set, so a rerun only migrates): identity's and the school's
sample data
(the profile's `school_schools` schools, `school_students` students, 500 courses and about
`school_attendances` attendance records: the full profile is the report's size, 2,000,000),
then, as one school, the at-risk list (50) and one student's profile, each read from the view
(contender `pgkeel`) and computed live (`pgkeel_live`), interleaved in rounds like every other
scenario. The ratio to compare is pgkeel ÷ peer: under 1, the view is faster.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from bench.config import PROFILES, Profile
from bench.dataset import ensure_database, servers
from bench.timing import Contender, Sample, Scenario, run_scenario, summarize
from pgkeel.config import load_settings
from pgkeel.db import Database, use_context
from pgkeel_apps import main as service
from pgkeel_apps.identity import load_sample_data as load_people
from pgkeel_apps.school import load_sample_data as load_school
from pgkeel_apps.school.dashboards import Dashboards
from pgkeel_apps.school.settings import SchoolSettings

SCHOOL_SCENARIOS = ("school_at_risk", "school_profile")
COURSES = 500


def _scenarios(dashboards: Dashboards, student: object) -> list[Scenario]:
    return [
        Scenario("school_at_risk", "the at-risk dashboard (50): view vs live", [
            Contender("pgkeel", lambda _i: dashboards.at_risk(limit=50)),
            Contender("pgkeel_live", lambda _i: dashboards.at_risk(limit=50, live=True))]),
        Scenario("school_profile", "one student's profile: view vs live", [
            Contender("pgkeel", lambda _i: dashboards.profile(student)),  # type: ignore[arg-type]
            Contender("pgkeel_live",
                      lambda _i: dashboards.profile(student, live=True))]),  # type: ignore[arg-type]
    ]


async def run_school(admin_url: str, profile: Profile, only: set[str] | None,
                     log: Callable[[str], None] = print) -> list[Sample]:
    """The school scenarios `only` selects, on their data set (built when missing)."""
    wanted = [name for name in SCHOOL_SCENARIOS if only is None or name in only]
    if not wanted or profile.school_students <= 0:
        return []
    url = ensure_database(admin_url, f"{profile.database}_school")
    samples: list[Sample] = []
    async with Database(url, min_size=2, max_size=4) as db:
        await service.migrate(db, load_settings().model_copy(
            update={"database_url": url}))
        started = time.perf_counter()
        schools, students = profile.school_schools, profile.school_students
        await load_people(db, organizations=schools, users=students, show_progress=False)
        built = await load_school(db, schools=schools, students=students,
                                  courses=min(COURSES, students),
                                  attendances=profile.school_attendances)
        loaded = time.perf_counter() - started
        org = await db.fetch_val("SELECT id FROM identity.organizations "
                                 "WHERE slug = 'org-1'")
        student = await db.fetch_val("SELECT student_id FROM school.student_metrics_mv "
                                     "WHERE organization_id = %s ORDER BY student_id "
                                     "LIMIT 1", (org,))
        counts = await db.fetch_one("SELECT (SELECT count(*) FROM school.attendances) AS a,"
                                    " (SELECT count(*) FROM school.students) AS s")
        assert counts is not None
        how = f"loaded and refreshed in {loaded:.1f} s" if built else "already there"
        log(f"  school data: {counts['s']:,} students, {counts['a']:,} attendance records "
            f"({how})")
        dashboards = Dashboards(db, None, SchoolSettings())  # type: ignore[arg-type]
        with use_context(org_id=org):
            for scenario in _scenarios(dashboards, student):
                if scenario.name in wanted:
                    samples += await run_scenario(
                        scenario, rounds=profile.rounds, block_s=profile.block_s,
                        min_ops=profile.min_ops, max_ops=profile.max_ops, log=log)
    return samples


async def main(quick: bool) -> None:
    admin_url, _redis_url, embedded = servers()
    try:
        samples = await run_school(admin_url, PROFILES["quick" if quick else "full"], None)
    finally:
        if embedded is not None:
            embedded.stop_started()
    print("\n| scenario | contender | median ms | p95 ms |\n|---|---|---|---|")
    for row in (summarize(s) for s in samples):
        print(f"| {row['scenario']} | {row['contender']} | {row['median_ms']:.2f} | "
              f"{row['p95_ms']:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.school_metrics")
    parser.add_argument("--quick", action="store_true", help="the quick profile's sizes")
    asyncio.run(main(parser.parse_args().quick))
