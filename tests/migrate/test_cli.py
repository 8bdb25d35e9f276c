"""`pgkeel migrate ...`: every command, `--json`, and non-zero exits on drift and failure."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pgkeel.cli.app import app

from .conftest import Files

pytestmark = pytest.mark.smoke


@pytest.fixture
def cli(files: Files, pgkeel_schema: str, pgkeel_database_url: str):
    """Run `pgkeel migrate <args>` in-process against this test's directory and schema."""
    runner = CliRunner()
    env = {"DATABASE_URL": pgkeel_database_url, "MIGRATIONS_DIR": str(files.root),
           "MIGRATIONS_SCHEMA": pgkeel_schema, "APP_ENV": "test",
           "MIGRATE_LOCK_TIMEOUT_MS": "2000"}

    def invoke(*args: str, **extra_env: str):
        return runner.invoke(app, ["migrate", *args], env={**env, **extra_env},
                             catch_exceptions=False)
    return invoke


def test_create_writes_templates_with_the_next_version(cli, files: Files):
    result = cli("create", "create users", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == [str(files.root / "V1__create_users.sql")]
    result = cli("create", "index users by email", "--no-transaction", "--undo")
    assert result.exit_code == 0
    assert result.stdout.split() == ["created", str(files.root / "V2__index_users_by_email.sql"),
                                     "created", str(files.root / "U2__index_users_by_email.sql")]
    assert (files.root / "V2__index_users_by_email.sql").read_text().startswith(
        "-- pgkeel: transaction=off\n")
    assert cli("create", "views", "--repeatable").exit_code == 0
    assert (files.root / "R__views.sql").exists()
    assert cli("create", "x", "--version", "7.1").exit_code == 0
    assert (files.root / "V7.1__x.sql").exists()
    assert cli("create", "y").stdout.strip().endswith("V8__y.sql")
    again = cli("create", "y", "--version", "8")
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_up_status_down_validate_repair(cli, files: Files):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);")
    files.write("U1__t.sql", "DROP TABLE t;")
    files.write("V2__u.sql", "INSERT INTO t VALUES (1);")
    files.write("U2__u.sql", "DELETE FROM t;")

    status = cli("status", "--exit-code", "--json")
    assert status.exit_code == 1
    data = json.loads(status.stdout)
    assert data["up_to_date"] is False and data["counts"] == {"pending": 2}

    dry = cli("up", "--dry-run")
    assert dry.exit_code == 0 and "BEGIN;\n" in dry.stdout and "CREATE TABLE t" in dry.stdout
    verify = cli("up", "--dry-run=verify")
    assert verify.exit_code == 0
    assert "verified (rolled back) V1__t.sql" in verify.stdout
    assert cli("up", "--dry-run=banana").exit_code == 2

    up = cli("up", "--json")
    assert up.exit_code == 0, up.output
    assert [a["script"] for a in json.loads(up.stdout)["applied"]] == ["V1__t.sql", "V2__u.sql"]
    assert "nothing to apply" in cli("up").stdout

    status = cli("status")
    assert status.exit_code == 0 and "applied" in status.stdout
    assert cli("status", "--exit-code").exit_code == 0
    assert cli("validate").stdout.startswith("ok")

    down = cli("down", "--steps", "1", "--json")
    assert [a["script"] for a in json.loads(down.stdout)["applied"]] == ["U2__u.sql"]
    assert "undone" in cli("status").stdout
    assert "U2__u.sql" not in cli("down", "--dry-run").stdout
    assert "DROP TABLE t;" in cli("down", "--dry-run").stdout
    assert cli("up").exit_code == 0

    files.write("V1__t.sql", "CREATE TABLE t (id bigint, edited int);")
    validate = cli("validate")
    assert validate.exit_code == 1
    assert "checksum_mismatch: V1__t.sql was edited after it was applied" in validate.stderr
    assert json.loads(cli("validate", "--json").stdout)["issues"][0]["script"] == "V1__t.sql"
    assert cli("status").exit_code == 1
    failed_up = cli("up")
    assert failed_up.exit_code == 1 and failed_up.stderr.startswith("error: The migration history")
    repair = cli("repair", "--json")
    assert json.loads(repair.stdout)["realigned_checksums"] == ["V1__t.sql"]
    assert cli("validate").exit_code == 0
    assert "nothing to repair" in cli("repair").stdout


def test_failed_migration_is_one_line_with_file_and_line(cli, files: Files):
    files.write("V1__bad.sql", "SELECT 1;\nSELECT 1 / 0;")
    result = cli("up")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: V1__bad.sql:2: division by zero")
    data = json.loads(cli("up", "--json").stdout)
    assert data["error"]["code"] == "migration_failed"
    assert data["error"]["details"]["line"] == 2


def test_lint_and_up_refusing_lint_errors(cli, files: Files):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint, at timestamp);")
    warn_only = cli("lint")
    assert warn_only.exit_code == 0 and "PGK018" in warn_only.stderr
    assert cli("lint", "--strict").exit_code == 1
    files.write("V2__i.sql", "CREATE INDEX i ON t (id);")
    result = cli("lint", "--json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["script"], f["line"]) for f in findings] == [
        ("PGK018", "V1__t.sql", 1), ("PGK001", "V2__i.sql", 1)]
    refused = cli("up")
    assert refused.exit_code == 1
    assert "V2__i.sql:1: PGK001 index-not-concurrent [error]" in refused.stderr
    assert cli("up", "--no-lint").exit_code == 0


def test_baseline_and_reset(cli, files: Files):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);")
    files.write("V2__u.sql", "CREATE TABLE u (id bigint);")
    result = cli("baseline", "1", "--json")
    assert json.loads(result.stdout) == {"baseline": "1"}
    assert "below_baseline" in cli("status").stdout
    assert cli("baseline", "1").exit_code == 1
    assert cli("up").exit_code == 0
    refused = cli("reset", "--force", APP_ENV="production")
    assert refused.exit_code == 1 and "APP_ENV=production" in refused.stderr
    assert "--force" in cli("reset").stderr
    assert cli("reset", "--force").exit_code == 0
    assert json.loads(cli("status", "--json").stdout)["counts"] == {"pending": 2}
