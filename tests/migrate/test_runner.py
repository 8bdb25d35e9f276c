"""`Migrator` against a real PostgreSQL: every command and every status state."""

from __future__ import annotations

import pytest

from pgkeel.db import Database
from pgkeel.errors import (
    BaselineRefused,
    IrreversibleMigration,
    LintFailed,
    MigrationDrift,
    MigrationFailed,
    OutOfOrder,
    ProductionRefused,
    UsageError,
)
from pgkeel.migrate import Migrator, State

from .conftest import Files, catalog, fetch, history, make_migrator

pytestmark = pytest.mark.smoke


def states(report) -> dict[str, str]:
    return {e.script or f"<{e.type} {e.version}>": str(e.state) for e in report.entries}


def write_basic(files: Files) -> None:
    files.write("V1__log.sql", "CREATE TABLE log (v text);\nINSERT INTO log VALUES ('1');")
    files.write("V1.1__point_one.sql", "INSERT INTO log VALUES ('1.1');")
    files.write("V2__two.sql", "INSERT INTO log VALUES ('2');")
    files.write("V10__ten.sql", "INSERT INTO log VALUES ('10');")


async def test_up_applies_in_numeric_order_once(migrator: Migrator, files: Files, aconn,
                                                pgkeel_schema):
    write_basic(files)
    report = await migrator.up()
    assert [a.script for a in report.applied] == [
        "V1__log.sql", "V1.1__point_one.sql", "V2__two.sql", "V10__ten.sql"]
    assert (await migrator.up()).applied == []
    rows = await fetch(aconn, f'SELECT v FROM "{pgkeel_schema}".log')
    assert [r[0] for r in rows] == ["1", "1.1", "2", "10"]
    assert set(states(await migrator.status()).values()) == {"applied"}
    assert await migrator.validate() == []


async def test_migrations_run_with_the_schema_first_on_the_search_path(
        migrator: Migrator, files: Files, aconn, pgkeel_schema):
    files.write("V1__t.sql", "CREATE TABLE unqualified (id bigint);")
    await migrator.up()
    rows = await fetch(aconn, "SELECT schemaname FROM pg_tables WHERE tablename = 'unqualified'")
    assert rows == [(pgkeel_schema,)]


async def test_history_columns_and_pending_state(migrator: Migrator, files: Files, aconn,
                                                 pgkeel_schema):
    write_basic(files)
    assert set(states(await migrator.status()).values()) == {"pending"}
    await migrator.up(target="1.1")
    assert states(await migrator.status()) == {
        "V1__log.sql": "applied", "V1.1__point_one.sql": "applied", "V2__two.sql": "pending",
        "V10__ten.sql": "pending"}
    cursor = await aconn.execute(
        f'SELECT installed_rank, version, description, type, script, checksum, checksum_algo,'
        f' installed_by, installed_on, execution_ms, success, statements_applied'
        f' FROM "{pgkeel_schema}".pgkeel_schema_history ORDER BY 1')
    first = (await cursor.fetchall())[0]
    assert first[:5] == (1, "1", "log", "SQL", "V1__log.sql")
    assert len(first[5]) == 64 and first[6] == "sha256-lf"
    assert first[7] == "postgres" and first[9] >= 0 and first[10] is True and first[11] == 2


async def test_failing_statement_keeps_nothing_and_names_file_and_line(
        migrator: Migrator, files: Files, aconn, pgkeel_schema):
    files.write("V1__ok.sql", "CREATE TABLE kept (id bigint);")
    files.write("V2__broken.sql", """
        CREATE TABLE half (id bigint);
        INSERT INTO half VALUES (1);
        SELECT id,
               no_such_column
        FROM half;
        CREATE TABLE never (id bigint);
        """)
    with pytest.raises(MigrationFailed) as info:
        await migrator.up()
    error = info.value
    assert error.message.startswith("V2__broken.sql:4: column \"no_such_column\" does not exist")
    assert error.details["line"] == 4 and error.details["sqlstate"] == "42703"
    assert error.details["applied_before"] == ["V1__ok.sql"]
    assert "Nothing from this file was kept" in (error.hint or "")
    tables = await fetch(aconn, "SELECT tablename FROM pg_tables WHERE schemaname = %s "
                                "AND tablename <> 'pgkeel_schema_history' ORDER BY 1",
                         (pgkeel_schema,))
    assert tables == [("kept",)]
    status = await migrator.status()
    assert states(status)["V2__broken.sql"] == "failed"
    assert [i.kind for i in await migrator.validate()] == ["failed"]
    # fixed: up runs it again from the start
    files.write("V2__broken.sql", "CREATE TABLE half (id bigint);")
    assert [a.script for a in (await migrator.up()).applied] == ["V2__broken.sql"]
    assert await migrator.validate() == []


async def test_edited_file_is_drift_and_repair_realigns_it(migrator: Migrator, files: Files,
                                                           aconn, pgkeel_schema):
    files.write("V1__a.sql", "CREATE TABLE a (id bigint);")
    files.write("V2__b.sql", "CREATE TABLE b (id bigint);")
    await migrator.up()
    files.write("V1__a.sql", "CREATE TABLE a (id bigint, extra text);")
    assert states(await migrator.status())["V1__a.sql"] == "checksum_mismatch"
    [issue] = await migrator.validate()
    assert (issue.kind, issue.script) == ("checksum_mismatch", "V1__a.sql")
    assert "was edited after it was applied" in issue.message
    files.write("V3__c.sql", "CREATE TABLE c (id bigint);")
    with pytest.raises(MigrationDrift, match=r"V1__a\.sql was edited"):
        await migrator.up()
    report = await migrator.repair()
    assert report.realigned_checksums == ["V1__a.sql"]
    assert await migrator.validate() == []
    assert [a.script for a in (await migrator.up()).applied] == ["V3__c.sql"]
    rows = await history(aconn, pgkeel_schema)
    assert [r[1] for r in rows] == ["SQL", "SQL", "REPAIR", "SQL"]


async def test_crlf_and_bom_checkout_of_an_applied_file_is_not_drift(
        migrator: Migrator, files: Files):
    text = "CREATE TABLE t (\n  id bigint\n);\n"
    files.write("V1__t.sql", text)
    await migrator.up()
    files.write("V1__t.sql", "", raw=b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert await migrator.validate() == []
    assert states(await migrator.status()) == {"V1__t.sql": "applied"}


async def test_missing_file_is_drift_and_repair_forgets_it(migrator: Migrator, files: Files,
                                                           aconn, pgkeel_schema):
    files.write("V1__a.sql", "SELECT 1;")
    files.write("V2__b.sql", "SELECT 2;")
    await migrator.up()
    files.remove("V2__b.sql")
    assert states(await migrator.status())["V2__b.sql"] == "missing"
    assert [i.kind for i in await migrator.validate()] == ["missing"]
    with pytest.raises(MigrationDrift, match="its file is gone"):
        await migrator.up()
    assert (await migrator.repair()).forgotten_missing == ["V2__b.sql"]
    assert await migrator.validate() == []
    assert "V2__b.sql" not in states(await migrator.status())
    assert [r[1] for r in await history(aconn, pgkeel_schema)] == [
        "SQL", "SQL", "DELETE", "REPAIR"]


async def test_out_of_order_is_an_error_unless_allowed(migrator: Migrator, files: Files):
    files.write("V1__a.sql", "SELECT 1;")
    files.write("V3__c.sql", "SELECT 3;")
    await migrator.up()
    files.write("V2__b.sql", "SELECT 2;")
    assert states(await migrator.status())["V2__b.sql"] == "out_of_order"
    assert [i.kind for i in await migrator.validate()] == ["out_of_order"]
    assert await migrator.validate(allow_out_of_order=True) == []
    with pytest.raises(OutOfOrder, match=r"V2__b\.sql is pending but older"):
        await migrator.up()
    assert [a.script for a in (await migrator.up(allow_out_of_order=True)).applied] == [
        "V2__b.sql"]
    files.write("V2.5__d.sql", "-- pgkeel: out_of_order=allow\nSELECT 4;")
    assert [a.script for a in (await migrator.up()).applied] == ["V2.5__d.sql"]


async def test_down_up_round_trip_leaves_an_identical_catalog(
        migrator: Migrator, files: Files, aconn, pgkeel_schema):
    files.write("V1__users.sql", """
        CREATE TABLE users (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            email text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX users_created ON users (created_at);
        CREATE FUNCTION user_count() RETURNS bigint LANGUAGE sql
            AS $$ SELECT count(*) FROM users $$;
        """)
    files.write("U1__users.sql", "DROP FUNCTION user_count();\nDROP TABLE users;")
    files.write("V2__orders.sql", """
        CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id),
                             total numeric(10, 2) CHECK (total >= 0));
        ALTER TABLE users ADD COLUMN name text;
        """)
    files.write("U2__orders.sql", "ALTER TABLE users DROP COLUMN name;\nDROP TABLE orders;")
    files.write("R__views.sql", "CREATE OR REPLACE VIEW big_orders AS "
                                "SELECT * FROM orders WHERE total > 100;")
    files.write("V3__seq.sql", "CREATE SEQUENCE invoice_no;")
    files.write("U3__seq.sql", "DROP VIEW IF EXISTS big_orders;\nDROP SEQUENCE invoice_no;")
    await migrator.up()
    before = await catalog(aconn, pgkeel_schema)
    assert len(before) > 10
    report = await migrator.down(steps=1)
    assert [a.script for a in report.applied] == ["U3__seq.sql"]
    assert states(await migrator.status())["V3__seq.sql"] == "undone"
    assert states(await migrator.status())["R__views.sql"] == "outdated"
    report = await migrator.down(target="0")
    assert [a.script for a in report.applied] == ["U2__orders.sql", "U1__users.sql"]
    assert await catalog(aconn, pgkeel_schema) == []
    report = await migrator.up()
    assert [a.script for a in report.applied] == [
        "V1__users.sql", "V2__orders.sql", "V3__seq.sql", "R__views.sql"]
    assert await catalog(aconn, pgkeel_schema) == before
    types = [r[1] for r in await history(aconn, pgkeel_schema)]
    assert types.count("UNDO") == 3


async def test_down_needs_undo_files_and_undoes_nothing_without_them(
        migrator: Migrator, files: Files):
    files.write("V1__a.sql", "CREATE TABLE a (id bigint);")
    files.write("U1__a.sql", "DROP TABLE a;")
    files.write("V2__b.sql", "CREATE TABLE b (id bigint);")
    await migrator.up()
    with pytest.raises(IrreversibleMigration, match="No undo file for version 2"):
        await migrator.down(steps=2)
    assert set(states(await migrator.status()).values()) == {"applied"}
    with pytest.raises(UsageError):
        await migrator.down(steps=1, target="1")


async def test_dry_run_prints_the_exact_sql_and_applies_nothing(
        migrator: Migrator, files: Files, aconn, pgkeel_schema):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);\nINSERT INTO t VALUES (1);")
    files.write("V2__i.sql", "-- pgkeel: transaction=off\n"
                             "CREATE INDEX CONCURRENTLY t_id ON t (id);")
    await aconn.execute(f'DROP SCHEMA "{pgkeel_schema}"')
    report = await migrator.up(dry_run=True)
    sql = report.sql or ""
    assert report.applied == [] and report.planned == ["V1__t.sql", "V2__i.sql"]
    assert f'CREATE SCHEMA IF NOT EXISTS "{pgkeel_schema}";' in sql
    assert ("BEGIN;\nSET LOCAL search_path TO " f'"{pgkeel_schema}", "public";\n'
            "SET LOCAL lock_timeout = '2000ms';") in sql
    assert "CREATE TABLE t (id bigint);\nINSERT INTO t VALUES (1);\nINSERT INTO" in sql
    assert "COMMIT;\n\n-- V2__i.sql: outside a transaction" in sql
    assert "\nCREATE INDEX CONCURRENTLY t_id ON t (id);\nUPDATE" in sql
    assert await fetch(aconn, "SELECT 1 FROM pg_namespace WHERE nspname = %s",
                       (pgkeel_schema,)) == []


async def test_dry_run_verify_rehearses_and_rolls_back(migrator: Migrator, files: Files, aconn,
                                                       pgkeel_schema):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);")
    files.write("V2__u.sql", "INSERT INTO t VALUES (1);")
    files.write("V3__i.sql", "-- pgkeel: transaction=off\nCREATE INDEX CONCURRENTLY i ON t (id);")
    files.write("V4__v.sql", "SELECT 1;")
    report = await migrator.up(dry_run="verify")
    assert [a.script for a in report.applied] == ["V1__t.sql", "V2__u.sql"]
    assert report.not_verified == ["V3__i.sql", "V4__v.sql"]
    assert await fetch(aconn, "SELECT 1 FROM pg_tables WHERE schemaname = %s",
                       (pgkeel_schema,)) == []
    files.write("V2__u.sql", "INSERT INTO t VALUES ('not a number');")
    with pytest.raises(MigrationFailed, match=r"V2__u.sql:1: .*dry run: nothing was applied"):
        await migrator.up(dry_run="verify")
    assert set(states(await migrator.status()).values()) == {"pending"}


async def test_baseline_marks_existing_versions(migrator: Migrator, files: Files, aconn,
                                                pgkeel_schema):
    await aconn.execute(f'CREATE TABLE "{pgkeel_schema}".legacy (id bigint)')
    files.write("V1__legacy.sql", "CREATE TABLE legacy (id bigint);")
    files.write("V2__more.sql", "ALTER TABLE legacy ADD COLUMN note text;")
    files.write("V3__new.sql", "CREATE TABLE fresh (id bigint);")
    assert await migrator.baseline("1", "existing schema") == "1"
    assert states(await migrator.status()) == {
        "<baseline 1>": "baseline", "V1__legacy.sql": "below_baseline",
        "V2__more.sql": "pending", "V3__new.sql": "pending"}
    assert [a.script for a in (await migrator.up()).applied] == ["V2__more.sql", "V3__new.sql"]
    with pytest.raises(BaselineRefused):
        await migrator.baseline("5")
    with pytest.raises(IrreversibleMigration, match="below the baseline"):
        await migrator.down(target="0")


async def test_repeatable_reapplied_when_changed(migrator: Migrator, files: Files, aconn,
                                                 pgkeel_schema):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);")
    files.write("R__v.sql", "CREATE OR REPLACE VIEW v AS SELECT id FROM t;")
    await migrator.up()
    assert (await migrator.up()).applied == []
    files.write("R__v.sql", "CREATE OR REPLACE VIEW v AS SELECT id, id * 2 AS twice FROM t;")
    assert states(await migrator.status())["R__v.sql"] == "outdated"
    assert [a.script for a in (await migrator.up()).applied] == ["R__v.sql"]
    columns = await fetch(aconn, "SELECT column_name FROM information_schema.columns "
                                 "WHERE table_schema = %s AND table_name = 'v' ORDER BY 1",
                          (pgkeel_schema,))
    assert columns == [("id",), ("twice",)]


async def test_up_refuses_lint_errors_unless_told(migrator: Migrator, files: Files):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);")
    await migrator.up()
    files.write("V2__i.sql", "CREATE INDEX t_id ON t (id);")
    with pytest.raises(LintFailed, match=r"V2__i.sql:1: PGK001") as info:
        await migrator.up()
    assert info.value.details["findings"][0]["code"] == "PGK001"
    assert [a.script for a in (await migrator.up(lint=False)).applied] == ["V2__i.sql"]


async def test_reset_is_refused_in_production_and_without_force(
        pgkeel_db: Database, files: Files, pgkeel_schema, aconn):
    files.write("V1__t.sql", "CREATE TABLE t (id bigint);")
    production = make_migrator(pgkeel_db, files, pgkeel_schema, production=True)
    await production.up()
    with pytest.raises(ProductionRefused, match="APP_ENV=production"):
        await production.reset(force=True)
    migrator = make_migrator(pgkeel_db, files, pgkeel_schema)
    with pytest.raises(UsageError, match="--force"):
        await migrator.reset()
    await migrator.reset(force=True)
    assert await fetch(aconn, "SELECT 1 FROM pg_namespace WHERE nspname = %s",
                       (pgkeel_schema,)) == []
    assert set(states(await migrator.status()).values()) == {"pending"}
    await migrator.up()
    assert states(await migrator.status()) == {"V1__t.sql": "applied"}


def test_every_status_state_is_reachable():
    reached = {"applied", "pending", "failed", "missing", "checksum_mismatch", "out_of_order",
               "undone", "baseline", "below_baseline", "outdated"}
    assert {str(s) for s in State} == reached


async def test_repair_removes_failed_rows(migrator: Migrator, files: Files, aconn,
                                          pgkeel_schema):
    files.write("V1__ok.sql", "SELECT 1;")
    files.write("V2__bad.sql", "SELECT 1 / 0;")
    with pytest.raises(MigrationFailed):
        await migrator.up()
    report = await migrator.repair()
    assert report.removed_failed == ["V2__bad.sql (rank 2)"]
    assert states(await migrator.status())["V2__bad.sql"] == "pending"
    assert await migrator.validate() == []
    assert [r[1] for r in await history(aconn, pgkeel_schema)] == ["SQL", "REPAIR"]
    assert not (await migrator.repair()).changed
