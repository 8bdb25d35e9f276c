"""`pgkeel backup`, `restore`, `backup verify` and `ops.generate_backup_script()` on the
reference service's demo data, in a database of the test's own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import orjson
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from pgkeel.cli.app import app
from pgkeel.db import Database
from pgkeel.ops import backup as backups
from pgkeel.testing.databases import drop_database
from pgkeel_apps import identity
from pgkeel_apps.main import migrate


@pytest.fixture
def demo_url(scratch_url, pgkeel_settings) -> str:
    """The scratch database with every migration set and the demo data (3 orgs, 60 users)."""
    settings = pgkeel_settings.model_copy(update={"database_url": scratch_url,
                                                  "migration_database_url": None,
                                                  "database_replica_urls": ()})

    async def load() -> None:
        async with Database.from_settings(settings, min_size=1, max_size=2) as db:
            await migrate(db, settings)
            await identity.load_sample_data(db, organizations=3, users=60,
                                            show_progress=False)

    asyncio.run(load())
    return scratch_url


def _counts(url: str) -> dict[str, int]:
    async def go() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await backups.row_counts(conn)
    return asyncio.run(go())


def test_backup_restore_verify_and_script_on_the_demo_data(demo_url, admin_url, tmp_path,
                                                          monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.delenv("MIGRATION_DATABASE_URL", raising=False)
    runner = CliRunner()
    first = asyncio.run(backups.backup(demo_url, tmp_path, keep=1))
    assert first.path.is_file() and first.path.suffix == ".dump" and first.bytes > 0
    assert first.row_counts["identity.users"] == 60
    assert first.row_counts == _counts(demo_url)

    made = runner.invoke(app, ["backup", "--dir", str(tmp_path), "--keep", "1", "--json"])
    assert made.exit_code == 0, made.output
    body = json.loads(made.output)
    path = Path(body["path"])
    # Retention: only the newest archive of this database stays, with its manifest.
    assert body["removed"] == [first.path.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name, path.with_suffix(".json").name])
    manifest = orjson.loads(path.with_suffix(".json").read_bytes())
    assert manifest["row_counts"] == first.row_counts

    target = "pgkeel_ops_restored"
    restored = runner.invoke(app, ["restore", str(path), "--into", target])
    try:
        assert restored.exit_code == 0, restored.output
        assert _counts(make_conninfo(demo_url, dbname=target)) == first.row_counts
        again = runner.invoke(app, ["restore", str(path), "--into", target])
        assert again.exit_code == 1 and "already exists" in again.output
    finally:
        drop_database(admin_url, make_conninfo(demo_url, dbname=target))

    verified = runner.invoke(app, ["backup", "verify", str(path), "--json"])
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.output)
    assert report["ok"] is True and report["tables"] == len(first.row_counts)
    assert "taken when the backup was made" in report["compared_with"]
    missing = runner.invoke(app, ["backup", "verify", str(tmp_path / "nope.dump")])
    assert missing.exit_code == 1 and missing.output.startswith("error: No backup file")

    text = runner.invoke(app, ["backup", "script", "--dir", str(tmp_path / "cron"),
                               "--keep-days", "3"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith("#!/bin/sh") and "-mtime +3" in text.output
    with psycopg.connect(demo_url) as conn:
        major = conn.info.server_version // 10000
    pg_bin = asyncio.run(backups.find_tool("pg_dump", major)).parent
    script = tmp_path / "backup.sh"
    script.write_text(text.output)
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=False,
                          env={**os.environ, "PG_BIN": str(pg_bin)})
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip())
    assert written.parent == tmp_path / "cron" and written.stat().st_size > 0


def test_verify_reports_each_table_whose_count_differs():
    expected = {"a.x": 3, "a.y": 5, "a.gone": 1}
    restored = {"a.x": 3, "a.y": 4, "a.new": 0}
    assert backups.compare_counts(expected, restored) == {
        "a.gone": {"expected": 1, "restored": None},
        "a.new": {"expected": None, "restored": 0},
        "a.y": {"expected": 5, "restored": 4}}
    assert backups.compare_counts(expected, dict(expected)) == {}
