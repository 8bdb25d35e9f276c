"""Every SQLSTATE mapping, each provoked by a real statement on a real server."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from pgkeel.db import Database
from pgkeel.errors import (
    Conflict,
    DatabaseError,
    DatabaseUnavailable,
    DriverError,
    PermissionDenied,
    PgkeelError,
    QueryTimeout,
    ReferenceNotFound,
    TransactionConflict,
    ValidationFailed,
    translate,
)

pytestmark = pytest.mark.smoke


@pytest.fixture
def tables(sync_conn: psycopg.Connection, pgkeel_schema: str) -> str:
    s = sql.Identifier(pgkeel_schema)
    sync_conn.execute(sql.SQL("""
        CREATE TABLE {s}.parent (id int PRIMARY KEY);
        CREATE TABLE {s}.child (
            id int PRIMARY KEY,
            org int NOT NULL DEFAULT 1,
            email varchar(5),
            parent_id int CONSTRAINT child_parent_fk REFERENCES {s}.parent (id),
            qty int CONSTRAINT child_qty_positive CHECK (qty > 0),
            CONSTRAINT child_org_email_key UNIQUE (org, email));
        INSERT INTO {s}.parent VALUES (1);
        INSERT INTO {s}.child (id, email, parent_id, qty) VALUES (1, 'a@b', 1, 1);
    """).format(s=s))
    return pgkeel_schema


async def _raise(db: Database, statement: sql.Composable | str) -> PgkeelError:
    with pytest.raises(PgkeelError) as info:
        await db.execute(statement)  # type: ignore[arg-type]
    assert isinstance(info.value.__cause__, psycopg.Error), "translated at the driver boundary"
    return info.value


async def test_unique_violation_is_conflict_with_constraint_and_fields(pgkeel_db, tables):
    err = await _raise(pgkeel_db, sql.SQL(
        "INSERT INTO {}.child (id, email) VALUES (2, 'a@b')").format(sql.Identifier(tables)))
    assert isinstance(err, Conflict)
    assert err.sqlstate == "23505"
    assert err.constraint == "child_org_email_key"
    assert err.fields == ["org", "email"]
    assert "a@b" not in str(err.to_dict()), "values never leak into the error body"


async def test_foreign_key_violation_is_reference_not_found(pgkeel_db, tables):
    err = await _raise(pgkeel_db, sql.SQL(
        "INSERT INTO {}.child (id, parent_id) VALUES (3, 99)").format(sql.Identifier(tables)))
    assert isinstance(err, ReferenceNotFound)
    assert err.details["constraint"] == "child_parent_fk"
    assert err.details["fields"] == ["parent_id"]


@pytest.mark.parametrize(("statement", "sqlstate", "detail"), [
    ("INSERT INTO {}.child (id, org) VALUES (4, NULL)", "23502", {"fields": ["org"]}),
    ("INSERT INTO {}.child (id, qty) VALUES (5, 0)", "23514",
     {"constraint": "child_qty_positive"}),
    ("INSERT INTO {}.child (id, email) VALUES (6, 'too-long-value')", "22001", {}),
    ("SELECT 'abc'::int FROM {}.child", "22P02", {}),
])
async def test_bad_values_are_validation_failed(pgkeel_db, tables, statement, sqlstate, detail):
    err = await _raise(pgkeel_db, sql.SQL(statement).format(sql.Identifier(tables)))
    assert isinstance(err, ValidationFailed)
    assert err.sqlstate == sqlstate
    for key, value in detail.items():
        assert err.details[key] == value


@pytest.mark.parametrize(("sqlstate", "cls"), [
    ("40001", TransactionConflict),
    ("40P01", TransactionConflict),
    ("53300", DatabaseUnavailable),
    ("57P03", DatabaseUnavailable),
    ("08006", DatabaseUnavailable),
    ("57014", QueryTimeout),
    ("42501", PermissionDenied),
])
async def test_sqlstates_raised_by_the_server_map_to_their_class(pgkeel_db, sqlstate, cls):
    statement = sql.SQL(
        "DO $$ BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = {}; END $$"
    ).format(sql.Literal(sqlstate))
    err = await _raise(pgkeel_db, statement)
    assert type(err) is cls
    assert err.sqlstate == sqlstate


async def test_statement_timeout_is_query_timeout(pgkeel_db):
    with pytest.raises(QueryTimeout) as info:
        async with pgkeel_db.transaction(timeout=0.05) as tx:
            await tx.execute("SELECT pg_sleep(2)")
    assert info.value.sqlstate == "57014"


async def test_missing_privilege_is_permission_denied(pgkeel_db, sync_conn, tables):
    role = f"{tables}_nobody"
    sync_conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
    try:
        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            with pytest.raises(PermissionDenied) as info:
                await tx.execute(sql.SQL("SELECT * FROM {}.child").format(
                    sql.Identifier(tables)))
            assert info.value.sqlstate == "42501"
            # the object PostgreSQL refused first: the schema, or the table within it
            assert info.value.details["object"] in ("table child", f"schema {tables}")
            raise _Rollback
    except _Rollback:
        pass
    finally:
        sync_conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


async def test_unclassified_errors_keep_sqlstate_but_never_sql_text(pgkeel_db):
    err = await _raise(pgkeel_db, "SELECT * FROM no_such_table_xyz")
    assert type(err) is DatabaseError
    assert err.sqlstate == "42P01"
    assert "no_such_table_xyz" not in str(err.to_dict())


def test_translate_passes_pgkeel_errors_through():
    original = Conflict()
    assert translate(original) is original
    assert original.to_dict()["code"] == "conflict"
    assert original.message == "A row with the same unique value already exists."


class _Rollback(Exception):
    pass


# -- errors the driver raises before anything reaches the server (no SQLSTATE) ---------------

@pytest.mark.parametrize(("query", "params", "cls", "code"), [
    ("SELECT %s::text", ("a\x00b",), ValidationFailed, "validation_failed"),       # NUL
    ("SELECT %s::text", ("a\ud800b",), ValidationFailed, "validation_failed"),     # surrogate
    ("SELECT %s, %s", (1,), DriverError, "driver_error"),                          # arity
    ("SELECT %s", (object(),), DriverError, "driver_error"),                       # no adapter
])
async def test_client_side_driver_errors_are_translated(pgkeel_db: Database, query, params,
                                                        cls, code):
    with pytest.raises(cls) as caught:
        await pgkeel_db.fetch_val(query, params)
    assert caught.value.code == code
    assert "\x00" not in caught.value.message and "placeholder" not in caught.value.message
    # The pool is still usable afterwards.
    assert await pgkeel_db.fetch_val("SELECT 1") == 1


def test_translate_without_sqlstate():
    assert isinstance(translate(psycopg.DataError("NUL")), ValidationFailed)
    assert isinstance(translate(psycopg.ProgrammingError("bad")), DriverError)
    assert isinstance(translate(psycopg.NotSupportedError("bad")), DriverError)
    assert isinstance(translate(psycopg.InterfaceError("closed")), DatabaseUnavailable)
    assert isinstance(translate(psycopg.OperationalError("gone")), DatabaseUnavailable)
