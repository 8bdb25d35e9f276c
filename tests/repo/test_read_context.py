"""Repository reads send the request context only where the database reads it (row-level
security), and the timeouts are the pooled connection's defaults. These pin down that the fast
path behaves like the transaction it replaced: nothing leaks between transactions on one pooled
connection, row-level security always sees the right organization, and the timeouts apply."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from pgkeel.db import Database, use_context
from pgkeel.errors import NotFound, QueryTimeout, UsageError
from pgkeel.repo import (
    CustomFilter,
    Field,
    FieldType,
    ListQuery,
    Repository,
    Table,
    parse_list_params,
)
from pgkeel.security.rls import rls_sql

ORG_A = uuid.UUID("00000000-0000-0000-0000-00000000000a")
ORG_B = uuid.UUID("00000000-0000-0000-0000-00000000000b")
CURRENT_ORG = "SELECT current_setting('pgkeel.org_id', true) AS org, count(*) AS n FROM {}"


def _table(schema: str, name: str) -> Table:
    return Table(schema, name, [
        Field("id", FieldType.INT, nullable=False, sort=True),
        Field("org_id", FieldType.UUID, nullable=False),
        Field("label", FieldType.TEXT),
    ], tenant="org_id", custom_filters=[
        # A predicate that reads the context itself, as a user's own function might.
        CustomFilter("ctx", FieldType.TEXT, "current_setting('pgkeel.org_id', true) = %s")])


@pytest.fixture
def app_url(pgkeel_database_url: str, pgkeel_schema: str,
            sync_conn: psycopg.Connection) -> Iterator[str]:
    """The test database as a login role subject to row-level security (NOBYPASSRLS, not a
    superuser, not the owner), with two tables: `secured` (forced RLS) and `plain` (none)."""
    role, password = f"pgkt_ctx_{secrets.token_hex(4)}", secrets.token_hex(8)
    sync_conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}")
                      .format(sql.Identifier(role), sql.Literal(password)))
    for name in ("secured", "plain"):
        table = sql.Identifier(pgkeel_schema, name)
        sync_conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, org_id uuid NOT NULL,"
                                  " label text)").format(table))
        sync_conn.execute(sql.SQL("INSERT INTO {} VALUES (1, %s, 'a1'), (2, %s, 'a2'),"
                                  " (3, %s, 'b3')").format(table), (ORG_A, ORG_A, ORG_B))
        sync_conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table,
                                                                     sql.Identifier(role)))
    sync_conn.execute(rls_sql(_table(pgkeel_schema, "secured")))
    sync_conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
        sql.Identifier(pgkeel_schema), sql.Identifier(role)))
    parts = urlsplit(pgkeel_database_url)
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    yield urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}"))
    sync_conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
        sql.Identifier(pgkeel_schema)))
    sync_conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    sync_conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _query(*pairs: tuple[str, str], schema: str) -> ListQuery:
    return parse_list_params(_table(schema, "any"), [("sort", "id"), *pairs])


def _count(schema: str, name: str) -> sql.Composed:
    return sql.SQL(CURRENT_ORG).format(sql.Identifier(schema, name))


async def test_the_catalog_says_which_tables_read_the_context(app_url, pgkeel_schema,
                                                              pgkeel_database_url):
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE VIEW {} WITH (security_invoker = true) AS "
                             "SELECT * FROM {}").format(
            sql.Identifier(pgkeel_schema, "secured_view"),
            sql.Identifier(pgkeel_schema, "secured")))
    async with Database(app_url, min_size=1, max_size=1) as db:
        assert await db.reads_context(f"{pgkeel_schema}.secured") is True
        assert await db.reads_context(f"{pgkeel_schema}.plain") is False
        assert await db.reads_context(f"{pgkeel_schema}.missing") is True   # unknown: send
        # A view of a secured table reads it as its reader: the context must go along.
        assert await db.reads_context(f"{pgkeel_schema}.secured_view") is True
    async with Database(pgkeel_database_url, min_size=1, max_size=1) as admin:
        # A superuser is never subject to row-level security: nothing reads the context.
        assert await admin.reads_context(f"{pgkeel_schema}.secured") is False
    async with Database(app_url, min_size=1, max_size=1, always_send_context=True) as forced:
        assert await forced.reads_context(f"{pgkeel_schema}.plain") is True


async def test_rls_reads_see_the_right_organization_on_one_connection(app_url, pgkeel_schema):
    secured = _count(pgkeel_schema, "secured")
    async with Database(app_url, min_size=1, max_size=1) as db:
        repo = Repository(db, _table(pgkeel_schema, "secured"))
        for org, ids in ((ORG_A, [1, 2]), (ORG_B, [3]), (ORG_A, [1, 2]), (ORG_B, [3])):
            with use_context(org_id=org):
                page = await repo.list(_query(schema=pgkeel_schema))
                assert [r["id"] for r in page.items] == ids
                assert (await repo.get(ids[0]))["id"] == ids[0]
                # The policy alone, with no tenant filter in the statement.
                [[row]] = await db.read_compiled([(secured, (), None)], context=True)
                assert row == (str(org), len(ids))
        with use_context(org_id=ORG_A), pytest.raises(NotFound):
            await repo.get(3)
        # Between transactions the session holds no organization: a read without the context
        # sees none and, under the policy, no rows.
        with use_context(org_id=ORG_B):
            [[row]] = await db.read_compiled([(secured, (), None)], context=False)
        assert row in (("", 0), (None, 0))


async def test_reads_without_rls_send_no_context_and_inherit_none(app_url, pgkeel_schema):
    plain = _count(pgkeel_schema, "plain")
    async with Database(app_url, min_size=1, max_size=1) as db:
        repo = Repository(db, _table(pgkeel_schema, "plain"))
        with use_context(org_id=ORG_B):
            async with db.transaction() as tx:       # sets ORG_B for its own transaction
                await tx.fetch_val("SELECT 1")
        with use_context(org_id=ORG_A):
            page = await repo.list(_query(schema=pgkeel_schema))
            assert [r["id"] for r in page.items] == [1, 2]
            [[row]] = await db.read_compiled([(plain, (), None)], context=False)
            assert row in (("", 3), (None, 3))       # neither ORG_B left over nor ORG_A sent
            ctx = _query(("ctx", str(ORG_A)), schema=pgkeel_schema)
            assert (await repo.list(ctx)).items == []
    async with Database(app_url, min_size=1, max_size=1, always_send_context=True) as forced:
        repo = Repository(forced, _table(pgkeel_schema, "plain"))
        with use_context(org_id=ORG_A):
            # The option restores the context on every read, for predicates that read it.
            assert [r["id"] for r in (await repo.list(ctx)).items] == [1, 2]


@pytest.mark.parametrize("context", [False, True])
async def test_fast_reads_have_the_statement_timeout(app_url, context):
    async with Database(app_url, min_size=1, max_size=1, statement_timeout_ms=100) as db:
        with use_context(org_id=ORG_A), pytest.raises(QueryTimeout):
            await db.read_compiled([("SELECT pg_sleep(%s)", (2,), None)], context=context)
        with use_context(org_id=ORG_A):
            [[row]] = await db.read_compiled([("SHOW statement_timeout", None, None)],
                                             context=context)
        assert row == ("100ms",)


async def test_timeouts_of_one_transaction_do_not_outlive_it(app_url):
    async with Database(app_url, min_size=1, max_size=1, statement_timeout_ms=100) as db:
        async with db.transaction(timeout=5, lock_timeout=0.25) as tx:
            assert await tx.fetch_val("SHOW statement_timeout") == "5s"
            assert await tx.fetch_val("SHOW lock_timeout") == "250ms"
            await tx.fetch_val("SELECT pg_sleep(0.2)")   # longer than the default
        [[(timeout, lock)]] = await db.read_compiled(
            [("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')",
              None, None)], context=False)
        assert (timeout, lock) == ("100ms", "0")


async def test_session_settings_changed_in_a_transaction_are_reset(app_url):
    async with Database(app_url, min_size=1, max_size=1, statement_timeout_ms=100) as db:
        async with db.transaction() as tx:
            await tx.execute("SET statement_timeout = '7s'")
            await tx.execute("SET pgkeel.org_id = 'leaked'")
        [[(timeout, org)]] = await db.read_compiled(
            [("SELECT current_setting('statement_timeout'),"
              " current_setting('pgkeel.org_id', true)", None, None)], context=False)
        assert timeout == "100ms"
        assert org in ("", None)
        with pytest.raises(QueryTimeout):
            await db.fetch_val("SELECT pg_sleep(2)", readonly=True)


async def test_fetch_without_context_sends_the_select_alone(app_url, pgkeel_schema):
    secured, plain = _count(pgkeel_schema, "secured"), _count(pgkeel_schema, "plain")
    async with Database(app_url, min_size=1, max_size=1) as db:
        with use_context(org_id=ORG_A):
            # The same read with and without the context, on the one pooled connection.
            assert await db.fetch_one(secured, readonly=True) == {"org": str(ORG_A), "n": 2}
            row = await db.fetch_one(plain, readonly=True, context=False)
            assert row in ({"org": "", "n": 3}, {"org": None, "n": 3})
            # Under row-level security it sees no organization, so no rows: never another's.
            assert (await db.fetch_all(secured, readonly=True, context=False))[0]["n"] == 0
            assert await db.fetch_val(
                "-- the caller's note\n  select count(*) FROM " + f"{pgkeel_schema}.plain",
                readonly=True, context=False) == 3
    async with Database(app_url, min_size=1, max_size=1, always_send_context=True) as forced:
        with use_context(org_id=ORG_B):
            # The option sends the context with every read, this one too.
            assert await forced.fetch_one(secured, readonly=True, context=False) == {
                "org": str(ORG_B), "n": 1}


async def test_fetch_without_context_is_for_selects_only(app_url, pgkeel_schema):
    table = sql.Identifier(pgkeel_schema, "plain")
    async with Database(app_url, min_size=1, max_size=1) as db:
        with pytest.raises(UsageError, match="read-only"):
            await db.fetch_val("SELECT 1", context=False)
        with pytest.raises(UsageError, match="SELECT only"):
            await db.fetch_val(sql.SQL("DELETE FROM {} RETURNING 1").format(table),
                               readonly=True, context=False)
        with pytest.raises(UsageError, match="SELECT only"):
            await db.fetch_all("WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d",
                               readonly=True, context=False)
        assert await db.fetch_val(sql.SQL("SELECT count(*) FROM {}").format(table),
                                  readonly=True, context=False) == 3


async def test_the_known_answer_comes_only_from_the_catalog(app_url, pgkeel_schema):
    secured, plain = f"{pgkeel_schema}.secured", f"{pgkeel_schema}.plain"
    async with Database(app_url, min_size=1, max_size=1) as db:
        assert db.reads_context_known(secured) is None   # not asked yet: no guess
        assert await db.reads_context(secured) is True
        assert db.reads_context_known(secured) is True
        assert await db.reads_context(plain) is False
        assert db.reads_context_known(plain) is False
    async with Database(app_url, min_size=1, max_size=1, always_send_context=True) as forced:
        assert forced.reads_context_known(plain) is None
        await forced.reads_context(plain)
        assert forced.reads_context_known(plain) is True


async def test_each_read_sends_the_context_of_its_own_scope(app_url, pgkeel_schema):
    """The settings' values are kept per context: nested and successive scopes on one pooled
    connection each send their own organization, actor and request id, never a kept one."""
    settings = ("SELECT current_setting('pgkeel.org_id', true),"
                " current_setting('pgkeel.actor_id', true),"
                " current_setting('pgkeel.request_id', true)")
    secured = _count(pgkeel_schema, "secured")
    async with Database(app_url, min_size=1, max_size=1) as db:
        async def sent() -> tuple[str, str, str]:
            [[row]] = await db.read_compiled([(settings, None, None)], context=True)
            return row

        with use_context(org_id=ORG_A, actor_id=7, request_id="r1"):
            assert await sent() == (str(ORG_A), "7", "r1")
            with use_context(org_id=ORG_B):
                assert await sent() == (str(ORG_B), "7", "r1")
                [[row]] = await db.read_compiled([(secured, (), None)], context=True)
                assert row == (str(ORG_B), 1)
            with use_context(request_id="r2"):
                assert await sent() == (str(ORG_A), "7", "r2")
            with use_context(org_id=ORG_B, inherit=False):
                assert await sent() == (str(ORG_B), "", "")
            assert await sent() == (str(ORG_A), "7", "r1")
            async with db.transaction() as tx:
                assert await tx.fetch_one(settings, row_factory=lambda _: tuple) == (
                    str(ORG_A), "7", "r1")
        [[row]] = await db.read_compiled([(settings, None, None)], context=False)
        assert row in (("", "", ""), (None, None, None))   # nothing left on the connection
