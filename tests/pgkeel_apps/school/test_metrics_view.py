"""student_metrics_mv: equal to the live aggregate after a refresh, refreshed without
blocking readers, its refresh time shown with the data, and one school's rows only."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors

from pgkeel import ops
from pgkeel.db import Database
from pgkeel.security.roles import role_url
from pgkeel_apps import main
from tests.pgkeel_apps.conftest import Api

from .conftest import add_session, make_school, take_roll

COMPARE = """
SELECT count(*) FROM (
    (SELECT * FROM school.student_metrics_mv EXCEPT ALL SELECT * FROM school.student_metrics_live)
    UNION ALL
    (SELECT * FROM school.student_metrics_live EXCEPT ALL SELECT * FROM school.student_metrics_mv)
) AS difference
"""


async def test_after_a_refresh_the_view_equals_the_live_aggregate(api: Api):
    school = await make_school(api, students=4)
    earlier = await add_session(api, school, dt.date.today() - dt.timedelta(days=3))
    assert (await take_roll(api, school, school["session"],
                            ["present", "late", "absent", "excused"])).status_code == 200
    assert (await take_roll(api, school, earlier,
                            ["present", "absent", "absent", "present"])).status_code == 200
    feedback = await api.client.post("/v1/school/feedback", headers=school["headers"], json={
        "items": [{"studentId": school["students"][0], "rawText": "Great", "score": 4.5},
                  {"studentId": school["students"][0], "rawText": "Slipping", "score": 2.0,
                   "parsedAt": (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).isoformat()}]})
    assert feedback.status_code == 201, feedback.text
    refreshed = await api.client.post("/v1/school/metrics/refresh", headers=school["headers"])
    assert refreshed.status_code == 200, refreshed.text
    # Every student of every organization (the sample schools too): no difference at all.
    assert await api.db.fetch_val(COMPARE) == 0
    assert await api.db.fetch_val("SELECT count(*) FROM school.student_metrics_mv") == \
        await api.db.fetch_val("SELECT count(*) FROM school.students") > 4
    # ... and the numbers are the ones the roll calls make, worked out by hand.
    row = await api.db.fetch_one(
        "SELECT * FROM school.student_metrics_mv WHERE organization_id = %s AND student_id = %s",
        (school["id"], school["students"][0]))
    assert row is not None
    assert (row["sessions_attended"], row["sessions_missed"]) == (2, 0)
    assert row["attendance_rate_30d"] == Decimal(1)
    assert row["last_attended_on"] == dt.date.today()
    assert row["avg_feedback_score"] == Decimal("3.25")
    assert row["feedback_trend"] == Decimal("2.50")   # 4.5 this month, 2.0 the month before
    assert row["active_enrollments"] == 1
    second = await api.db.fetch_one(
        "SELECT * FROM school.student_metrics_mv WHERE organization_id = %s AND student_id = %s",
        (school["id"], school["students"][1]))
    assert second is not None
    assert (second["sessions_attended"], second["sessions_missed"]) == (1, 1)
    assert second["attendance_rate_30d"] == Decimal("0.5")
    fourth = await api.db.fetch_one(
        "SELECT * FROM school.student_metrics_mv WHERE organization_id = %s AND student_id = %s",
        (school["id"], school["students"][3]))
    assert fourth is not None   # excused counts for neither side
    assert (fourth["sessions_attended"], fourth["sessions_missed"]) == (1, 0)
    assert fourth["attendance_rate_term"] == Decimal(1)


async def test_the_refresh_time_is_recorded_and_shown_with_the_data(api: Api):
    school = await make_school(api, students=2)
    before = await api.client.get("/v1/school/dashboard/overview", headers=school["headers"])
    refreshed = await api.client.post("/v1/school/metrics/refresh", headers=school["headers"])
    assert refreshed.status_code == 200, refreshed.text
    at = refreshed.json()["refreshedAt"]
    assert refreshed.json()["students"] >= 2
    overview = await api.client.get("/v1/school/dashboard/overview", headers=school["headers"])
    assert overview.json()["metricsRefreshedAt"] == at != before.json()["metricsRefreshedAt"]
    assert overview.json()["students"] == 2
    assert (await api.client.get("/v1/school/metrics/refresh",
                                 headers=school["headers"])).json()["refreshedAt"] == at
    live = await api.client.get("/v1/school/dashboard/overview?live=true",
                                headers=school["headers"])
    assert live.json()["source"] == "live"
    assert live.json()["metricsRefreshedAt"] is None


async def test_only_administrators_refresh_on_demand(api: Api):
    school = await make_school(api, students=1)
    viewer = await api.as_(school["slug"], "user0")
    denied = await api.client.post("/v1/school/metrics/refresh", headers=viewer)
    assert denied.status_code == 403


async def test_a_concurrent_refresh_does_not_block_readers(api: Api, pgkeel_database_url):
    """While a refresh holds its lock (its transaction still open), readers of the view get
    their rows at once: lock_timeout=1ms would fail any read that had to wait. A plain
    REFRESH, for contrast, makes the same read fail."""
    await make_school(api, students=2)
    with psycopg.connect(pgkeel_database_url) as refresher, \
            psycopg.connect(pgkeel_database_url, autocommit=True) as reader:
        reader.execute("SET lock_timeout = '1ms'")
        refresher.execute("SELECT * FROM school.refresh_student_metrics()")
        for _ in range(20):   # the refresh's EXCLUSIVE lock is still held
            assert reader.execute("SELECT count(*) FROM school.student_metrics_mv"
                                  ).fetchone()[0] > 0
        refresher.rollback()
        refresher.execute("REFRESH MATERIALIZED VIEW school.student_metrics_mv")
        with pytest.raises(errors.LockNotAvailable):
            reader.execute("SELECT count(*) FROM school.student_metrics_mv")
        refresher.rollback()


READ_DURING = """
SELECT (SELECT count(*) FROM school.student_metrics_mv) AS students,
       EXISTS (SELECT FROM pg_locks WHERE relation = 'school.student_metrics_mv'::regclass
               AND mode = 'ExclusiveLock' AND granted AND pid <> pg_backend_pid()) AS refreshing
"""


async def test_a_reader_loop_runs_through_a_concurrent_refresh_without_waiting(
        api: Api, pgkeel_database_url, record_property):
    """A reader reads the view in a loop before, during and after a REFRESH CONCURRENTLY,
    with lock_timeout=1ms: a read that waited on a lock would fail. The refresh keeps its
    transaction open until the reader has read while its EXCLUSIVE lock was held (pg_locks,
    in the same statement), so the loop provably runs through it. Reports the longest read;
    asserts no lock wait, not a time."""
    await make_school(api, students=2)
    refreshed, seen, committed = threading.Event(), threading.Event(), threading.Event()

    def refresh() -> None:
        with psycopg.connect(pgkeel_database_url) as conn:
            conn.execute("SELECT * FROM school.refresh_student_metrics()")
            refreshed.set()
            seen.wait(60)
            conn.commit()
        committed.set()

    refresher = threading.Thread(target=refresh)
    reads: list[tuple[float, bool]] = []
    with psycopg.connect(pgkeel_database_url, autocommit=True) as reader:
        reader.execute("SET lock_timeout = '1ms'")
        refresher.start()
        try:
            after = 0
            while after < 20 and len(reads) < 100_000:
                started = time.perf_counter()
                students, refreshing = reader.execute(READ_DURING).fetchone()  # type: ignore[misc]
                reads.append((time.perf_counter() - started, refreshing))
                assert students > 0
                if refreshing and refreshed.is_set():
                    seen.set()
                after += committed.is_set()
        finally:
            seen.set()
            refresher.join()
    during = [wait for wait, refreshing in reads if refreshing]
    longest = max(wait for wait, _ in reads) * 1000
    record_property("max_read_ms", round(longest, 2))
    print(f"{len(reads)} reads, {len(during)} while the refresh held its lock; "
          f"longest {longest:.2f} ms")
    assert during, "no read happened while the refresh held its lock"


async def test_one_school_cannot_read_another_schools_metrics(api: Api, role_names,
                                                              pgkeel_database_url):
    mine, theirs = await make_school(api, students=2), await make_school(api, students=3)
    await api.client.post("/v1/school/metrics/refresh", headers=mine["headers"])
    app_url = role_url(pgkeel_database_url, role_names.app, None)
    with psycopg.connect(app_url, autocommit=True) as app:
        # The materialized view itself (no row-level security) is closed to the app role.
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("SELECT * FROM school.student_metrics_mv")
        with app.transaction():
            app.execute("SELECT set_config('pgkeel.org_id', %s, true)", (str(mine["id"]),))
            seen = app.execute("SELECT organization_id, student_id "
                               "FROM school.student_metrics").fetchall()
            assert {r[0] for r in seen} == {mine["id"]}
            assert len(seen) == 2
            assert app.execute("SELECT count(*) FROM school.student_metrics "
                               "WHERE organization_id = %s", (theirs["id"],)).fetchone() == (0,)
            # The live definition applies the reader's row-level security.
            assert {r[0] for r in app.execute(
                "SELECT organization_id FROM school.student_metrics_live")} == {mine["id"]}
        # Without an organization: nothing at all (fails closed).
        assert app.execute("SELECT count(*) FROM school.student_metrics").fetchone() == (0,)
    theirs_profile = await api.client.get(
        f"/v1/school/students/{theirs['students'][0]}/profile", headers=mine["headers"])
    assert theirs_profile.status_code == 404


async def test_pgkeel_maintain_refreshes_the_view_and_records_when(api: Api, pgkeel_settings,
                                                                   role_settings):
    """The job `school.refresh_student_metrics` is in the service's registry and, run as
    the app role, refreshes the view (a student added since appears) and records the time."""
    school = await make_school(api, students=1)
    registry = main.jobs(role_settings)
    assert "school.refresh_student_metrics" in {job.name for job in registry}
    before = await api.db.fetch_val("SELECT refreshed_at FROM school.metrics_refreshes")
    async with Database.from_settings(role_settings, min_size=1) as db:
        runs = await ops.run_jobs(db, registry, role_settings, force=True,
                                  names=["school.refresh_student_metrics"])
    assert [(run.name, run.status) for run in runs] == [("school.refresh_student_metrics",
                                                         "ok")]
    after = await api.db.fetch_val("SELECT refreshed_at FROM school.metrics_refreshes")
    assert after != before
    assert runs[0].result["refreshedAt"] == after.isoformat()
    assert await api.db.fetch_val(
        "SELECT count(*) FROM school.student_metrics_mv WHERE organization_id = %s",
        (school["id"],)) == 1
