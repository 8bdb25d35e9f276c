"""Least-privilege database roles for a service: migrator, app, readonly.

    report = await ensure_roles(admin_conn, RoleNames.for_service("pgkeel"),
                                ["identity", "tags", "audit"])

- **migrator** (`<service>_migrator`) owns the service's schemas and everything in them and
  runs DDL. It has BYPASSRLS: as the owner it could switch row-level security off anyway, and
  seeding or backfilling across organizations needs it. Only migrations connect as it.
- **app** (`<service>_app`) is what requests connect as: DML only (SELECT, INSERT, UPDATE,
  DELETE), NOBYPASSRLS, neither owner nor superuser, so row-level security always applies.
- **readonly** (`<service>_readonly`) has SELECT only, and is subject to row-level security
  like the app (it sets `pgkeel.org_id` to read one organization).

Grants are by schema, with `ALTER DEFAULT PRIVILEGES`, so tables a later migration adds are
covered without running this again. Materialized views are the exception: they have no
row-level security, so the app and readonly roles are never granted one (a migration that
creates one revokes the default privileges itself, and exposes it through a view or function
that filters by organization). Library schemas with internal tables (`audit`) get the
narrower grants listed in `LIBRARY_GRANTS`. Everything is idempotent: a second run changes
nothing (`RolesReport.changed` compares a catalog snapshot taken before and after).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, LiteralString
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgkeel.config import redact_dsn
from pgkeel.db.connect_errors import connect_failure
from pgkeel.errors import UsageError, translate
from pgkeel.security import _role_queries as _queries

__all__ = ["LIBRARY_GRANTS", "RoleNames", "RoleTimeouts", "RolesReport", "admin_password",
           "derive_password", "ensure_roles", "provision_roles", "role_url"]

LIBRARY_GRANTS: Final[Mapping[str, Mapping[str, Mapping[str, LiteralString]]]] = {
    # The audit log is append-only for the app; the chain tables are written only by the
    # chain trigger (SECURITY DEFINER), so neither role may touch them.
    "audit": {"app": {"audit_log": "SELECT, INSERT"}, "readonly": {"audit_log": "SELECT"}},
}
"""Schemas whose tables are granted one by one instead of by schema."""

_ATTRS: Final = ("rolsuper", "rolinherit", "rolcreaterole", "rolcreatedb", "rolcanlogin",
                 "rolreplication", "rolbypassrls")
_KEYWORDS: Final[dict[str, tuple[LiteralString, LiteralString]]] = {
    "rolsuper": ("SUPERUSER", "NOSUPERUSER"), "rolinherit": ("INHERIT", "NOINHERIT"),
    "rolcreaterole": ("CREATEROLE", "NOCREATEROLE"), "rolcreatedb": ("CREATEDB", "NOCREATEDB"),
    "rolcanlogin": ("LOGIN", "NOLOGIN"), "rolreplication": ("REPLICATION", "NOREPLICATION"),
    "rolbypassrls": ("BYPASSRLS", "NOBYPASSRLS"),
}
@dataclass(frozen=True)
class RoleNames:
    """The three roles of one service."""

    migrator: str
    app: str
    readonly: str

    @classmethod
    def for_service(cls, service: str = "pgkeel") -> RoleNames:
        if not service or len(service) > 50 or not service.replace("_", "").isalnum():
            raise UsageError(f"A service name is letters, digits and '_', not {service!r}.")
        return cls(f"{service}_migrator", f"{service}_app", f"{service}_readonly")

    def all(self) -> list[str]:
        return [self.migrator, self.app, self.readonly]


@dataclass(frozen=True)
class RoleTimeouts:
    """The app role's own `statement_timeout` and `lock_timeout` (0: none), set with
    `ALTER ROLE ... IN DATABASE ... SET`, so every session of the role starts with them.

    Behind a pooler in transaction mode (DB_TRANSACTION_POOLER) pgkeel keeps no session
    settings: a read sent as one implicit transaction carries no SET LOCAL, and the role's
    own value is what bounds it."""

    statement_timeout_ms: int
    lock_timeout_ms: int = 0

    def settings(self) -> dict[str, str]:
        return {"statement_timeout": str(self.statement_timeout_ms),
                "lock_timeout": str(self.lock_timeout_ms)}


@dataclass
class RolesReport:
    """What `ensure_roles` did."""

    roles: RoleNames
    schemas: list[str]
    created: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    changed: bool = False
    """False when the catalog (roles, ownership, grants, default privileges) is unchanged."""

    def to_dict(self) -> dict[str, Any]:
        return {"roles": {"migrator": self.roles.migrator, "app": self.roles.app,
                          "readonly": self.roles.readonly},
                "schemas": self.schemas, "created": self.created, "altered": self.altered,
                "changed": self.changed}


def derive_password(admin_password: str | None, role: str) -> str | None:
    """A stable password for `role` derived from the admin's (None when the admin has none,
    as on trust or peer authentication): the same on every run, never stored anywhere."""
    if not admin_password:
        return None
    digest = hmac.digest(admin_password.encode(), f"pgkeel-role:{role}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def role_url(admin_url: str, role: str, password: str | None) -> str:
    """`admin_url` with the user (and password) replaced: how `role` connects."""
    if "://" in admin_url:
        parts = urlsplit(admin_url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
        auth = quote(role, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        return urlunsplit(parts._replace(netloc=f"{auth}@{host}"))
    params = conninfo_to_dict(admin_url)
    params.pop("password", None)
    params["user"] = role
    if password:
        params["password"] = password
    return make_conninfo("", **params)


CONNECT_TIMEOUT_S: Final = 5
"""libpq's connect timeout for the admin connection that provisions the roles."""


def admin_password(admin_url: str) -> str | None:
    value = conninfo_to_dict(admin_url).get("password")
    return None if value is None else str(value)


async def ensure_roles(
    conn: AsyncConnection[Any],
    roles: RoleNames,
    schemas: Sequence[str],
    *,
    passwords: Mapping[str, str | None] | None = None,
    readonly_bypass_rls: bool = False,
    app_timeouts: RoleTimeouts | None = None,
) -> RolesReport:
    """Create (or correct) the three roles and grant them `schemas`, in one transaction.

    `conn` belongs to a superuser (or a role with CREATEROLE that may grant BYPASSRLS).
    `passwords` maps a role name to the password it logs in with (None: no password).
    `app_timeouts`, when given, become the app role's own timeouts in this database.
    """
    report = RolesReport(roles=roles, schemas=sorted(set(schemas)))
    names = roles.all()
    try:
        for attempt in range(3):
            try:
                async with conn.transaction():
                    before = await _snapshot(conn, names, report.schemas)
                    await _ensure_all(conn, roles, report, passwords or {},
                                      readonly_bypass_rls)
                    if app_timeouts is not None:
                        await _ensure_settings(conn, roles.app, app_timeouts.settings())
                    report.changed = before != await _snapshot(conn, names, report.schemas)
                return report
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject,
                    psycopg.errors.InternalError_):
                # Another process created the same role (or granted on the same object) at
                # the same moment; the second attempt finds its work done.
                if attempt == 2:
                    raise
                report.created.clear()
                report.altered.clear()
    except psycopg.Error as exc:
        raise translate(exc) from exc
    return report  # pragma: no cover -- the loop returns or raises


async def _snapshot(conn: AsyncConnection[Any], roles: list[str],
                    schemas: list[str]) -> Any:
    cursor = await conn.execute(_queries.SNAPSHOT, {"roles": roles, "schemas": schemas})
    row = await cursor.fetchone()
    return None if row is None else row[0]


async def _ensure_all(conn: AsyncConnection[Any], roles: RoleNames, report: RolesReport,
                      passwords: Mapping[str, str | None], readonly_bypass_rls: bool) -> None:
    wanted = {roles.migrator: True, roles.app: False, roles.readonly: readonly_bypass_rls}
    for name, bypass in wanted.items():
        await _ensure_role(conn, name, bypass, passwords.get(name), report)
    migrator, app, readonly = (sql.Identifier(n) for n in roles.all())
    db = sql.Identifier(await _current_database(conn))
    await _run(conn, "GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}", db, migrator)
    await _run(conn, "GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}, {}", db, app, readonly)
    cursor = await conn.execute(_queries.ROLE_ATTRS, (await _current_user(conn),))
    me = await cursor.fetchone()
    if me is not None and not me[0]:
        # A non-superuser admin hands objects to the migrator, so it must be able to act as it.
        await _run(conn, "GRANT {} TO CURRENT_USER", migrator)
    for schema in report.schemas:
        await _ensure_schema(conn, schema, roles)


async def _ensure_role(conn: AsyncConnection[Any], name: str, bypass_rls: bool,
                       password: str | None, report: RolesReport) -> None:
    target = {"rolsuper": False, "rolinherit": True, "rolcreaterole": False,
              "rolcreatedb": False, "rolcanlogin": True, "rolreplication": False,
              "rolbypassrls": bypass_rls}
    options = sql.SQL(" ").join(sql.SQL(_KEYWORDS[a][0 if target[a] else 1]) for a in _ATTRS)
    cursor = await conn.execute(_queries.ROLE_ATTRS, (name,))
    row = await cursor.fetchone()
    if row is None:
        await conn.execute(sql.SQL("CREATE ROLE {} WITH {}").format(sql.Identifier(name),
                                                                   options))
        report.created.append(name)
    elif dict(zip(_ATTRS, row, strict=True)) != target:
        await conn.execute(sql.SQL("ALTER ROLE {} WITH {}").format(sql.Identifier(name),
                                                                  options))
        report.altered.append(name)
    if password is not None:
        await conn.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)))


async def _ensure_settings(conn: AsyncConnection[Any], role: str,
                           wanted: Mapping[str, str]) -> None:
    """`ALTER ROLE role IN DATABASE <this one> SET name = value` for each setting whose
    value differs (values as PostgreSQL stores them: milliseconds without a unit)."""
    cursor = await conn.execute(_queries.ROLE_CONFIG, (role,))
    row = await cursor.fetchone()
    current = dict(item.partition("=")[::2] for item in (row[0] if row else None) or [])
    database = sql.Identifier(await _current_database(conn))
    for name, value in wanted.items():
        if current.get(name) != value:
            await _run(conn, "ALTER ROLE {} IN DATABASE {} SET {} = {}", sql.Identifier(role),
                       database, sql.Identifier(name), sql.Literal(value))


async def _ensure_schema(conn: AsyncConnection[Any], schema: str, roles: RoleNames) -> None:
    s = sql.Identifier(schema)
    migrator, app, readonly = (sql.Identifier(n) for n in roles.all())
    await _run(conn, "CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}", s, migrator)
    await _run(conn, "ALTER SCHEMA {} OWNER TO {}", s, migrator)
    cursor = await conn.execute(_queries.FOREIGN_OBJECTS,
                                {"schema": schema, "owner": roles.migrator})
    for kind, nsp, name, args in await cursor.fetchall():
        target: sql.Composable = sql.Identifier(nsp, name)
        if args is not None:
            target = sql.SQL("{}({})").format(target, sql.SQL(args))
        await conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), target,
                                                                     migrator))
    await _run(conn, "GRANT USAGE ON SCHEMA {} TO {}, {}", s, app, readonly)
    library = LIBRARY_GRANTS.get(schema)
    if library is not None:
        for role, grants in ((app, library.get("app", {})),
                             (readonly, library.get("readonly", {}))):
            for table, privileges in grants.items():
                if await _exists(conn, schema, table):   # created by a later migration?
                    await _run(conn, f"GRANT {privileges} ON {{}} TO {{}}",
                               sql.Identifier(schema, table), role)
        return
    await _run(conn, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}",
               s, app)
    await _run(conn, "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}", s, app)
    await _run(conn, "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {} TO {}", s, app)
    await _run(conn, "GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}", s, readonly)
    await _run(conn, "GRANT SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}", s, readonly)
    defaults = "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
    await _run(conn, defaults + "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}",
               migrator, s, app)
    await _run(conn, defaults + "GRANT USAGE, SELECT ON SEQUENCES TO {}", migrator, s, app)
    await _run(conn, defaults + "GRANT EXECUTE ON FUNCTIONS TO {}", migrator, s, app)
    await _run(conn, defaults + "GRANT SELECT ON TABLES TO {}", migrator, s, readonly)
    await _run(conn, defaults + "GRANT SELECT ON SEQUENCES TO {}", migrator, s, readonly)
    # A materialized view has no row-level security: granted, it would show every
    # organization's rows. The roles reach one only through a view or function that filters
    # by pgkeel.org_id (`GRANT ... ON ALL TABLES` and the default privileges include them).
    cursor = await conn.execute(_queries.MATVIEWS, (schema,))
    for (name,) in await cursor.fetchall():
        await _run(conn, "REVOKE ALL ON {} FROM {}, {}", sql.Identifier(schema, name), app,
                   readonly)
    # The migration history is the migrator's alone (the app may read it, not rewrite it).
    if await _exists(conn, schema, "pgkeel_schema_history"):
        await _run(conn, "REVOKE INSERT, UPDATE, DELETE ON {} FROM {}",
                   sql.Identifier(schema, "pgkeel_schema_history"), app)


async def _exists(conn: AsyncConnection[Any], schema: str, table: str) -> bool:
    cursor = await conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables WHERE schemaname = %s"
        " AND tablename = %s) OR EXISTS (SELECT FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'p')",
        (schema, table, schema, table))
    row = await cursor.fetchone()
    return bool(row and row[0])


async def _current_database(conn: AsyncConnection[Any]) -> str:
    return await _scalar(conn, "SELECT current_database()")


async def _current_user(conn: AsyncConnection[Any]) -> str:
    return await _scalar(conn, "SELECT current_user")


async def _scalar(conn: AsyncConnection[Any], query: LiteralString) -> str:
    cursor = await conn.execute(query)
    row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


async def _run(conn: AsyncConnection[Any], template: str, *parts: sql.Composable) -> None:
    await conn.execute(sql.SQL(template).format(*parts))


async def provision_roles(
    admin_url: str, roles: RoleNames, schemas: Sequence[str], *,
    password: str | None = None, readonly_bypass_rls: bool = False,
    app_timeouts: RoleTimeouts | None = None,
) -> tuple[RolesReport, dict[str, str]]:
    """`ensure_roles` over a connection of its own to `admin_url`; returns the report and
    each role's connection string (same server and database as `admin_url`). Passwords are
    `password` for all three, else derived from the admin's (`derive_password`)."""
    secret = admin_password(admin_url)
    passwords = {name: password if password is not None else derive_password(secret, name)
                 for name in roles.all()}
    try:
        conn = await AsyncConnection.connect(admin_url, autocommit=True,
                                             application_name="pgkeel db roles",
                                             connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        raise connect_failure(exc, admin_url, redact_dsn(admin_url),
                              timeout_s=CONNECT_TIMEOUT_S) from None
    async with conn:
        report = await ensure_roles(conn, roles, schemas, passwords=passwords,
                                    readonly_bypass_rls=readonly_bypass_rls,
                                    app_timeouts=app_timeouts)
    return report, {name: role_url(admin_url, name, passwords[name]) for name in roles.all()}
