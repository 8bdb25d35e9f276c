"""Row-level security and least-privilege roles of the reference service, checked with the
roles' own connections: the second tenancy layer holds even when the first (repository
scoping) is missing, and every tenant table in every service schema has it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgkeel.config import Settings
from pgkeel.db import Database, use_context
from pgkeel.errors import PermissionDenied
from pgkeel.repo import Field, FieldType, Repository, Table
from pgkeel.security.roles import RoleNames, provision_roles, role_url
from pgkeel_apps.main import SCHEMAS
from tests.pgkeel_apps.conftest import Api, make_org

CROSS_TENANT_LIBRARY_SCHEMAS = {"idempotency", "outbox"}
"""Library schemas read across organizations by their own maintenance jobs (the idempotency
reaper, an outbox relay): not tenant-RLS'd, see docs/security.md."""

TENANT_COLUMNS = ("organization_id", "org_id", "tenant_id")

UNPROTECTED: str = """
SELECT n.nspname || '.' || c.relname AS table_name, a.attname AS tenant_column,
       c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p')
  AND a.attname = ANY(%(columns)s)
  AND has_table_privilege(%(app)s, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
  AND NOT (c.relrowsecurity AND c.relforcerowsecurity
           AND EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid))
ORDER BY 1
"""


def service_schemas(conn: psycopg.Connection[Any], roles: RoleNames) -> list[str]:
    """The declared schemas plus every schema the migrator owns: a later app's schema is
    found even before anyone adds it to a list."""
    owned = [row[0] for row in conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspowner = %s::regrole", (roles.migrator,))]
    return sorted((set(SCHEMAS) | set(owned)) - CROSS_TENANT_LIBRARY_SCHEMAS)


def unprotected_tables(conn: psycopg.Connection[Any], roles: RoleNames) -> list[tuple[Any, ...]]:
    """Tables with a tenant column that the app role can reach but that lack forced RLS."""
    return conn.execute(UNPROTECTED, {"schemas": service_schemas(conn, roles),
                                      "columns": list(TENANT_COLUMNS),
                                      "app": roles.app}).fetchall()


@pytest.fixture
def admin(pgkeel_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def connect(role_settings: Settings, role_names: RoleNames, pgkeel_database_url: str):
    """`connect("app")`: a plain connection of the role itself (never the superuser)."""
    opened: list[psycopg.Connection[Any]] = []

    def open_as(kind: str) -> psycopg.Connection[Any]:
        role = getattr(role_names, kind)
        conn = psycopg.connect(role_url(pgkeel_database_url, role, None), autocommit=True)
        assert conn.execute("SELECT current_user").fetchone() == (role,)
        opened.append(conn)
        return conn

    yield open_as
    for conn in opened:
        conn.close()


async def test_every_tenant_table_has_forced_rls(api: Api, admin, role_names):
    assert unprotected_tables(admin, role_names) == []
    tables = {row[0]: row[1:] for row in admin.execute(
        "SELECT n.nspname || '.' || c.relname, c.relrowsecurity, c.relforcerowsecurity "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('identity', 'tags', 'audit') AND c.relkind IN ('r', 'p')")}
    for name in ("identity.organizations", "identity.users", "identity.roles",
                 "identity.user_roles", "identity.sessions", "tags.customer_tags",
                 "tags.customer_tag_assignments", "audit.audit_log"):
        assert tables[name] == (True, True), name


async def test_the_catalog_check_catches_a_new_table_without_rls(api: Api, admin, role_names):
    """Plant the bug the check guards against: a later migration adds a tenant table and
    forgets its policy (the migrator's default privileges hand it to the app role)."""
    admin.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role_names.migrator)))
    admin.execute("CREATE SCHEMA later_app")
    admin.execute("CREATE TABLE later_app.notes (id int PRIMARY KEY, organization_id uuid)")
    admin.execute("RESET ROLE")
    try:
        await provision_roles(str(admin.info.dsn), role_names, ["later_app"])
        assert [row[0] for row in unprotected_tables(admin, role_names)] == ["later_app.notes"]
    finally:
        admin.execute("DROP SCHEMA later_app CASCADE")


async def test_app_role_sees_and_writes_only_its_organization(api: Api, connect):
    mine, theirs = await make_org(api), await make_org(api)
    app = connect("app")
    user = theirs["admin0"]
    with app.transaction():
        app.execute("SELECT set_config('pgkeel.org_id', %s, true)", (str(mine["id"]),))
        assert app.execute("SELECT count(*) FROM identity.users WHERE organization_id = %s",
                           (theirs["id"],)).fetchone() == (0,)
        assert app.execute("SELECT count(*) FROM identity.users").fetchone()[0] == 1 + 2
        assert app.execute("UPDATE identity.users SET display_name = 'owned' WHERE id = %s",
                           (user,)).rowcount == 0
        assert app.execute("DELETE FROM identity.user_roles WHERE organization_id = %s",
                           (theirs["id"],)).rowcount == 0
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"), \
            app.transaction():
        app.execute("SELECT set_config('pgkeel.org_id', %s, true)", (str(mine["id"]),))
        app.execute("INSERT INTO identity.users (organization_id, email, display_name) "
                    "VALUES (%s, 'planted@example.com', 'Planted')", (theirs["id"],))
    row = await api.db.fetch_one("SELECT display_name FROM identity.users WHERE id = %s",
                                 (user,))
    assert row == {"display_name": "admin 0"}


async def test_without_an_organization_nothing_is_visible_or_writable(api: Api, connect):
    org = await make_org(api)
    app = connect("app")
    for table in ("identity.organizations", "identity.users", "identity.roles",
                  "identity.user_roles", "identity.sessions", "tags.customer_tags",
                  "audit.audit_log"):
        count = app.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.SQL(table))).fetchone()
        assert count == (0,), table
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        app.execute("INSERT INTO tags.customer_tags (organization_id, name, color) "
                    "VALUES (%s, 'x', '#000000')", (org["id"],))


async def test_a_repository_without_its_tenant_filter_is_still_stopped(api: Api):
    """The first layer deliberately removed: users declared as a global table, so the
    repository adds no tenant predicate. Row-level security still answers per organization."""
    mine, theirs = await make_org(api), await make_org(api)
    unscoped = Table("identity", "users", [
        Field("id", FieldType.UUID, nullable=False),
        Field("organization_id", FieldType.UUID, nullable=False),
        Field("email", FieldType.TEXT, nullable=False),
    ], global_table=True)
    repo: Repository[dict[str, Any]] = Repository(api.app_db, unscoped)
    with use_context(org_id=mine["id"]):
        assert await repo.find(theirs["admin0"]) is None
        assert await repo.find(mine["admin0"]) is not None
        assert {r["organization_id"] for r in await repo.get_many(
            [mine["admin0"], theirs["admin0"], theirs["user0"]])} == {mine["id"]}
        with pytest.raises(PermissionDenied):
            await repo.create({"id": uuid.uuid4(), "organization_id": theirs["id"],
                               "email": "x@example.com"})
    assert await repo.find(mine["admin0"]) is None   # no organization: nothing at all
    # The same query as the admin (who bypasses RLS) does see the other organization's row:
    # the test above is RLS's doing, not the data's.
    admin_repo: Repository[dict[str, Any]] = Repository(api.db, unscoped)
    assert await admin_repo.find(theirs["admin0"]) is not None


async def test_readonly_role_cannot_write(api: Api, connect):
    org = await make_org(api)
    readonly = connect("readonly")
    with readonly.transaction():
        readonly.execute("SELECT set_config('pgkeel.org_id', %s, true)", (str(org["id"]),))
        assert readonly.execute("SELECT count(*) FROM identity.users").fetchone() == (3,)
    for statement in (
            "UPDATE identity.users SET display_name = 'x'",
            "DELETE FROM tags.customer_tags",
            "INSERT INTO identity.organizations (slug, name) VALUES ('ro', 'ro')",
            "INSERT INTO audit.audit_log (action, entity_type) VALUES ('a', 'b')"):
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            readonly.execute(statement)


async def test_app_role_cannot_change_schema_or_switch_rls_off(api: Api, connect, role_names):
    app = connect("app")
    attributes = app.execute("SELECT rolsuper, rolbypassrls FROM pg_roles "
                             "WHERE rolname = current_user").fetchone()
    assert attributes == (False, False)
    for statement in ("ALTER TABLE identity.users ADD COLUMN planted text",
                      "ALTER TABLE identity.users NO FORCE ROW LEVEL SECURITY",
                      "DROP POLICY pgkeel_tenant ON identity.users",
                      "CREATE TABLE identity.planted (id int)",
                      "TRUNCATE identity.sessions",
                      "DELETE FROM audit.chain"):
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute(statement)
    owner = app.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'identity' "
                        "AND tablename = 'users'").fetchone()
    assert owner == (role_names.migrator,)


async def test_pre_tenant_functions_are_narrow_security_definers(api: Api, admin, role_names):
    rows = admin.execute(
        "SELECT p.proname, p.prosecdef, p.proconfig, "
        "       has_function_privilege(%s, p.oid, 'EXECUTE'),"
        "       has_function_privilege(%s, p.oid, 'EXECUTE'),"
        "       EXISTS (SELECT FROM aclexplode(p.proacl) x WHERE x.grantee = 0) "
        "FROM pg_proc p WHERE p.pronamespace = 'identity'::regnamespace "
        "  AND p.proname IN ('login_lookup', 'session_principal') ORDER BY 1",
        (role_names.app, role_names.readonly)).fetchall()
    assert [r[0] for r in rows] == ["login_lookup", "session_principal"]
    for name, definer, config, app_may, readonly_may, public_may in rows:
        assert definer, name
        assert config == ["search_path=pg_catalog, pg_temp"], name
        assert (app_may, readonly_may, public_may) == (True, False, False), name


async def test_login_and_tokens_work_through_the_pre_tenant_path(api: Api, connect):
    org = await make_org(api)
    headers = await api.as_(org["slug"], "admin0")
    response = await api.client.get("/v1/users", headers=headers)
    assert response.status_code == 200
    assert {u["email"].split("@")[1] for u in response.json()["items"]} == {
        f"{org['slug']}.example"}
    app = connect("app")   # yet the sessions table itself shows the app role nothing
    assert app.execute("SELECT count(*) FROM identity.sessions").fetchone() == (0,)


async def test_db_roles_twice_is_a_no_op(api: Api, role_names, pgkeel_database_url):
    first, _ = await provision_roles(pgkeel_database_url, role_names, SCHEMAS)
    second, urls = await provision_roles(pgkeel_database_url, role_names, SCHEMAS)
    assert (second.created, second.altered, second.changed) == ([], [], False)
    assert first.created == []   # the service's start-up made them already
    async with Database(urls[role_names.app], min_size=1) as db:
        assert await db.fetch_val("SELECT current_user") == role_names.app


def test_db_roles_command_is_idempotent(role_settings, role_names, pgkeel_database_url,
                                        monkeypatch):
    import orjson
    from typer.testing import CliRunner

    from pgkeel.cli.app import app

    monkeypatch.setenv("DATABASE_URL", pgkeel_database_url)
    args = ["db", "roles", "--service", role_names.app.removesuffix("_app"), "--json",
            *[arg for schema in SCHEMAS for arg in ("--schema", schema)]]
    reports = []
    # The app role's own timeouts come from the settings (behind a transaction pooler, reads
    # rely on them); a change of setting changes the role, the same setting changes nothing.
    for statement_ms, lock_ms in (("31000", "21000"), ("30000", "20000"), ("30000", "20000")):
        monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", statement_ms)
        monkeypatch.setenv("DB_LOCK_TIMEOUT_MS", lock_ms)
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        reports.append(orjson.loads(result.stdout))
    assert reports[1]["changed"] is True, "new timeouts are a change"
    assert reports[2]["changed"] is False and reports[2]["created"] == [], reports
    assert reports[2]["roles"]["app"] == role_names.app
    with psycopg.connect(role_url(pgkeel_database_url, role_names.app, None)) as conn:
        shown = conn.execute("SELECT current_setting('statement_timeout'),"
                             " current_setting('lock_timeout')").fetchone()
    assert shown == ("30s", "20s"), "every session of the app role starts with them"


MATVIEWS_OPEN: str = """
SELECT schemaname || '.' || matviewname FROM pg_matviews
WHERE schemaname = ANY(%(schemas)s)
  AND (has_table_privilege(%(app)s, format('%%I.%%I', schemaname, matviewname), 'SELECT')
       OR has_table_privilege(%(readonly)s, format('%%I.%%I', schemaname, matviewname),
                              'SELECT'))
"""


async def test_no_materialized_view_is_readable_by_the_service_roles(api: Api, admin,
                                                                     role_names):
    """A materialized view has no row-level security: the roles reach one only through a
    view that filters by organization (`pgkeel db roles` revokes what it would grant)."""
    schemas = service_schemas(admin, role_names)
    assert admin.execute("SELECT count(*) FROM pg_matviews WHERE schemaname = ANY(%s)",
                         (schemas,)).fetchone()[0] >= 1
    assert admin.execute(MATVIEWS_OPEN, {"schemas": schemas, "app": role_names.app,
                                         "readonly": role_names.readonly}).fetchall() == []
    await provision_roles(str(admin.info.dsn), role_names, schemas)   # again: still closed
    assert admin.execute(MATVIEWS_OPEN, {"schemas": schemas, "app": role_names.app,
                                         "readonly": role_names.readonly}).fetchall() == []
