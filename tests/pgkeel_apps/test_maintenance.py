"""The reference service runs the maintenance loop when MAINTAIN_IN_SERVICE is set: as the
schema owner, with the library's jobs and every app's, and one copy leads."""

from __future__ import annotations

import asyncio
from typing import Any

from pgkeel_apps.main import APPS, jobs
from tests.pgkeel_apps.conftest import open_api


def test_the_service_jobs_are_every_apps_jobs(pgkeel_settings: Any) -> None:
    registry = jobs(pgkeel_settings)
    expected = [name for app in APPS if app.jobs is not None for name in app.jobs.names()]
    assert registry.names() == expected


async def test_the_service_runs_the_library_jobs_with_one_leader(role_settings: Any,
                                                                 monkeypatch: Any,
                                                                 sync_conn: Any) -> None:
    settings = role_settings.model_copy(update={"maintain_in_service": True})
    if sync_conn.execute("SELECT to_regclass('ops.job_runs')").fetchone() != (None,):
        sync_conn.execute("DELETE FROM ops.job_runs")  # other tests' runs: all due again
    async with open_api(settings, monkeypatch) as api:
        states: dict[str, Any] = {}
        for _ in range(600):
            rows = await api.db.fetch_all(
                "SELECT name, last_status FROM ops.job_runs WHERE name = ANY(%s)"
                " AND last_finished_at IS NOT NULL",
                (["pgkeel.idempotency_reap", "pgkeel.audit_partitions"],))
            states = {row["name"]: row["last_status"] for row in rows}
            if len(states) == 2:
                break
            await asyncio.sleep(0.05)
        assert states == {"pgkeel.idempotency_reap": "ok", "pgkeel.audit_partitions": "ok"}
        leaders = await api.db.fetch_val(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = 'pgkeel maintain leader' AND datname = current_database()")
        assert leaders == 1
