"""The Python query API (find_many) and start-up validation against the live catalog."""

from __future__ import annotations

import pytest
from psycopg import sql

from pgkeel.db import use_context
from pgkeel.errors import SchemaMismatch, TenantRequired, UsageError
from pgkeel.repo import Field, FieldType, Registry, Table
from tests.repo.conftest import ORG_A, people_table


@pytest.fixture
def registry(people, pgkeel_db):
    return Registry(pgkeel_db, [people.table])


async def test_find_many_with_conditions_order_and_limit(registry):
    with use_context(org_id=ORG_A):
        rows = await registry.find_many("people", [("score", ">=", 3), ("team", "IN", ["red"]),
                                                   ("deleted_at", "IS NULL")],
                                        order_by="name", order_direction="desc", limit=3)
        assert [r["name"] for r in rows] == sorted(
            [r["name"] for r in rows], reverse=True)
        assert all(r["score"] >= 3 and r["team"] == "red" for r in rows)
        assert len(rows) <= 3
        eq = await registry.find_many("people", {"name": "person 07"})
        assert [r["name"] for r in eq] == ["person 07"]
        between = await registry.find_many("people", [("score", "BETWEEN", (1, 2))],
                                           limit=50, use_replica=True)
        assert {r["score"] for r in between} <= {1, 2}


async def test_find_many_refuses_what_is_not_declared(registry):
    with use_context(org_id=ORG_A):
        with pytest.raises(UsageError) as info:
            await registry.find_many("peple")
        assert info.value.hint == "Did you mean 'people'?"
        with pytest.raises(UsageError, match="no usable column"):
            await registry.find_many("people", {"secret": "s1"})  # sensitive
        with pytest.raises(UsageError, match="not allowed"):
            await registry.find_many("people", [("score", "~", "1")])
        with pytest.raises(UsageError):
            await registry.find_many("people", {"name; DROP TABLE people": 1})
    with pytest.raises(TenantRequired):
        await registry.find_many("people")


async def test_check_reports_missing_indexes_with_the_fix(registry):
    advice = await registry.check()
    fixes = {a.fix for a in advice if a.fix}
    assert any("(\"org_id\", \"score\")" in fix for fix in fixes)
    assert all(fix.startswith("CREATE INDEX CONCURRENTLY") for fix in fixes)
    assert not any("created_at" in (a.fix or "") for a in advice), "(org_id, created_at) exists"


async def test_check_fails_on_a_mismatched_declaration(people, pgkeel_db, pgkeel_schema,
                                                       sync_conn):
    wrong = Table(pgkeel_schema, "people", [
        *people_table(pgkeel_schema).fields[:5],
        Field("missing_col", FieldType.TEXT),
        Field("active", FieldType.INT),
        *people_table(pgkeel_schema).fields[6:],
    ], tenant="org_id")
    with pytest.raises(SchemaMismatch) as info:
        await Registry(pgkeel_db, [wrong]).check()
    problems = " ".join(info.value.details["problems"])
    assert "missing_col: column does not exist" in problems
    assert "active: declared integer, the database has boolean" in problems
    absent = Table(pgkeel_schema, "nope", [Field("id", FieldType.INT)], global_table=True)
    with pytest.raises(SchemaMismatch, match="does not exist"):
        await Registry(pgkeel_db, [absent]).check()
    sync_conn.execute(sql.SQL("SELECT 1"))


async def test_check_warns_about_a_tenant_table_without_forced_rls(registry, sync_conn):
    from pgkeel.security.rls import rls_sql

    table = registry.repo("people").table
    rls = [a for a in await registry.check() if "row-level security" in a.message]
    assert [a.table for a in rls] == [table.qualified]
    sync_conn.execute(rls_sql(table))
    assert not [a for a in await registry.check() if "row-level security" in a.message]


async def test_a_partial_index_on_live_rows_serves_lists_and_others_do_not(registry,
                                                                          sync_conn):
    """Lists read live rows only (`deleted_at IS NULL`): an index on exactly those serves
    them; an index on some other subset does not."""
    table = registry.repo("people").table

    def wants_score_index(advice):
        return any("(\"org_id\", \"score\")" in (a.fix or "") for a in advice)

    assert wants_score_index(await registry.check())
    sync_conn.execute(sql.SQL("CREATE INDEX people_score_active ON {} (org_id, score)"
                              " WHERE active").format(table.ident))
    assert wants_score_index(await registry.check())
    sync_conn.execute(sql.SQL("CREATE INDEX people_score_live ON {} (org_id, score)"
                              " WHERE deleted_at IS NULL").format(table.ident))
    assert not wants_score_index(await registry.check())
