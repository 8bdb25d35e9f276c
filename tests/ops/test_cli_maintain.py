"""`pgkeel maintain`: --list, the due jobs once, --job, MAINTAIN_JOBS / --jobs registries,
exit 1 when a job failed, one error line for a bad registry path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from pgkeel.cli.app import app


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, pgkeel_database_url: str, sync_conn,
        pgkeel_schema: str) -> pytest.MonkeyPatch:
    monkeypatch.setenv("DATABASE_URL", pgkeel_database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    sync_conn.execute(f'CREATE TABLE "{pgkeel_schema}".runs (id serial)')
    monkeypatch.setenv("SAMPLE_JOBS_TABLE", f"{pgkeel_schema}.runs")
    assert cli("ops", "install").exit_code == 0
    return monkeypatch


def test_maintain_runs_app_jobs_from_maintain_jobs_and_reports_failures(env, sync_conn,
                                                                         pgkeel_schema):
    sync_conn.execute("DELETE FROM ops.job_runs WHERE name LIKE 'sample.%'")
    env.setenv("MAINTAIN_JOBS", "tests.ops.sample_jobs:JOBS")
    listed = cli("maintain", "--list", "--json")
    assert listed.exit_code == 0, listed.output
    names = [row["name"] for row in json.loads(listed.output)]
    assert names[:2] == ["pgkeel.analyze", "pgkeel.vacuum"]
    assert names[-2:] == ["sample.count_run", "sample.always_fails"]

    first = cli("maintain", "--json", "--job", "sample.count_run", "--job", "sample.always_fails")
    assert first.exit_code == 1, first.output
    runs = {r["name"]: r for r in json.loads(first.output)}
    assert runs["sample.count_run"]["status"] == "ok"
    assert runs["sample.count_run"]["result"] == {"inserted": 1}
    assert runs["sample.always_fails"]["status"] == "failed"
    assert "division by zero" in runs["sample.always_fails"]["error"]

    # Without --job: the due jobs only; both sample jobs ran less than an hour ago.
    again = cli("maintain", "--json")
    statuses = {r["name"]: r["status"] for r in json.loads(again.output)}
    assert statuses["sample.count_run"] == "not_due", again.output
    assert sync_conn.execute(f'SELECT count(*) FROM "{pgkeel_schema}".runs').fetchone() == (1,)
    text = cli("maintain")
    assert "sample.count_run" in text.output and "not_due" in text.output


def test_maintain_loads_a_registry_factory_with_jobs(env):
    result = cli("maintain", "--jobs", "tests.ops.sample_jobs:registry", "--list", "--json")
    assert result.exit_code == 0, result.output
    assert "sample.count_run" in [row["name"] for row in json.loads(result.output)]
    assert cli("maintain", "--jobs", "tests.ops.sample_jobs:registry", "--list").exit_code == 0


def test_maintain_with_a_bad_registry_path_is_one_error_line(env):
    result = cli("maintain", "--jobs", "tests.ops.no_such_module:JOBS")
    assert result.exit_code == 1
    assert result.output.startswith("error: Cannot load the job registry")
    unknown = cli("maintain", "--job", "no.such_job", "--json")
    assert unknown.exit_code == 1
    assert json.loads(unknown.output)["error"]["code"] == "usage_error"
