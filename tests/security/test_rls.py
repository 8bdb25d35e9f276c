"""`rls_sql`: the policy the library writes for a declared tenant table, for each tenant
column type, applied to a real table and exercised as an ordinary role."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgkeel.repo import Field, FieldType, Table
from pgkeel.security.rls import rls_sql, tenant_predicate

VALUES = {FieldType.UUID: ("00000000-0000-0000-0000-00000000000a",
                           "00000000-0000-0000-0000-00000000000b"),
          FieldType.TEXT: ("org-a", "org-b"),
          FieldType.BIGINT: ("10", "20")}


def _table(schema: str, name: str, tenant_type: FieldType) -> Table:
    return Table(schema, name, [Field("id", FieldType.INT, nullable=False),
                                Field("tenant", tenant_type, nullable=False)],
                 tenant="tenant")


@pytest.fixture
def role(rls_role: str) -> str:
    return rls_role


@pytest.mark.parametrize("tenant_type", list(VALUES))
def test_policy_fails_closed_for_each_tenant_type(sync_conn: psycopg.Connection[Any],
                                                  pgkeel_schema: str, role: str,
                                                  tenant_type: FieldType) -> None:
    table = _table(pgkeel_schema, f"t_{tenant_type.name.lower()}", tenant_type)
    mine, theirs = VALUES[tenant_type]
    sync_conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, tenant {} NOT NULL)")
                      .format(table.ident, sql.SQL(tenant_type.value)))
    sync_conn.execute(sql.SQL("INSERT INTO {} VALUES (1, %s), (2, %s)").format(table.ident),
                      (mine, theirs))
    sync_conn.execute(rls_sql(table))
    sync_conn.execute(rls_sql(table))   # idempotent: a migration may run it again
    sync_conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(
        table.ident, sql.Identifier(role)))
    sync_conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        count = sql.SQL("SELECT count(*) FROM {}").format(table.ident)
        assert sync_conn.execute(count).fetchone() == (0,)          # unset: nothing
        with sync_conn.transaction():
            sync_conn.execute("SELECT set_config('pgkeel.org_id', '', true)")
            assert sync_conn.execute(count).fetchone() == (0,)      # empty: nothing
        with sync_conn.transaction():
            sync_conn.execute("SELECT set_config('pgkeel.org_id', %s, true)", (mine,))
            assert sync_conn.execute(sql.SQL("SELECT id FROM {}").format(table.ident)
                                     ).fetchall() == [(1,)]
            assert sync_conn.execute(sql.SQL("UPDATE {} SET tenant = tenant").format(
                table.ident)).rowcount == 1
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"), \
                sync_conn.transaction():
            sync_conn.execute("SELECT set_config('pgkeel.org_id', %s, true)", (mine,))
            sync_conn.execute(sql.SQL("INSERT INTO {} VALUES (3, %s)").format(table.ident),
                              (theirs,))
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            sync_conn.execute(sql.SQL("INSERT INTO {} VALUES (4, %s)").format(table.ident),
                              (mine,))                              # unset: refused
    finally:
        sync_conn.execute("RESET ROLE")
    forced = sync_conn.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                               "WHERE oid = %s::regclass", (table.qualified,)).fetchone()
    assert forced == (True, True)


def test_rendered_sql_reads_the_setting_once_per_statement() -> None:
    text = rls_sql(_table("app", "notes", FieldType.UUID)).as_string(None)
    assert 'ALTER TABLE "app"."notes" FORCE ROW LEVEL SECURITY;' in text
    assert text.count("(SELECT NULLIF(current_setting('pgkeel.org_id', true), '')::uuid)") == 2
    assert "WITH CHECK" in text


def test_global_tables_and_other_column_types_are_refused() -> None:
    with pytest.raises(ValueError, match="global table"):
        rls_sql(Table("app", "flags", [Field("id", FieldType.INT)], global_table=True))
    with pytest.raises(ValueError, match="tenant column must be"):
        tenant_predicate("org", "jsonb")


def test_rls_sql_command_prints_the_policies_of_declared_tables() -> None:
    from typer.testing import CliRunner

    from pgkeel.cli.app import app

    result = CliRunner().invoke(app, ["security", "rls-sql", "--table",
                                      "pgkeel_apps.tags.tables:TABLES", "--json"])
    assert result.exit_code == 0, result.output
    import orjson

    tables = orjson.loads(result.stdout)["tables"]
    assert set(tables) == {"tags.customer_tags", "tags.customer_tag_assignments"}
    assert all("FORCE ROW LEVEL SECURITY" in text for text in tables.values())
    bad = CliRunner().invoke(app, ["security", "rls-sql", "--table", "no_such_module:X"])
    assert bad.exit_code == 1
