"""The bench data set: organizations, roles, users, memberships and audit rows, loaded with COPY.

It lives in a database of its own (`pgkeel_bench`, `pgkeel_bench_quick`, ...; created when
missing), so a bench never touches the test or demo data. Building is idempotent: a manifest
row records the sizes of the finished build, and a second run with the same sizes returns at
once. Different sizes (or an interrupted build) drop the bench schemas and build again.

Order matters for speed: the identity tables are created (migration V1) without their
secondary indexes, the rows are loaded, then the remaining migrations build the indexes over
the loaded data (CREATE INDEX CONCURRENTLY, as in production).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, LiteralString
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
from psycopg import sql
from rich.progress import Progress

from bench.config import Profile
from pgkeel import audit
from pgkeel.db import Database
from pgkeel.errors import MigrationDrift
from pgkeel.migrate import Migrator
from pgkeel.testing.databases import database_url
from pgkeel_apps import identity

__all__ = ["BULK_TABLE_DDL", "BuildReport", "build", "ensure_database"]

MANIFEST_DDL: LiteralString = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.dataset (
    id        int PRIMARY KEY CHECK (id = 1),
    sizes     jsonb NOT NULL,
    built_at  timestamptz NOT NULL DEFAULT now(),
    build_s   float8 NOT NULL
)"""

# Bulk inserts go to a table shaped like identity.users (its constraints and b-tree indexes,
# not its trigram indexes), truncated before every operation, so the users table the read
# scenarios query never grows.
BULK_TABLE_DDL: LiteralString = """
CREATE TABLE IF NOT EXISTS bench.bulk_users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    email           text NOT NULL,
    display_name    text NOT NULL,
    password_hash   text,
    status          text NOT NULL DEFAULT 'active',
    is_active       boolean NOT NULL DEFAULT true,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT bulk_users_org_email UNIQUE (organization_id, email)
);
CREATE INDEX IF NOT EXISTS bulk_users_org_created
    ON bench.bulk_users (organization_id, created_at DESC)
"""

AUDIT_COLUMNS = ("organization_id", "actor_id", "action", "entity_type", "entity_id",
                 "old_values", "new_values", "changed_fields", "metadata", "request_id",
                 "created_at")
ACTIONS = ("users.update", "users.login", "users.create", "users.role_added",
           "users.role_removed", "users.status")
AUDIT_MONTHS = 12
AUDIT_CHUNK = 50_000


@dataclass(frozen=True)
class BuildReport:
    database_url: str
    built: bool
    """False when the data set was already there with these sizes."""
    seconds: float
    sizes: dict[str, int]


def ensure_database(admin_url: str, name: str) -> str:
    """Create database `name` on `admin_url`'s server unless it exists; return its URL."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(admin_url, name)


APP_ROLE = "pgkeel_bench_app"
"""The role the row-level-security scenarios connect as: LOGIN, NOBYPASSRLS, not a superuser,
SELECT on the identity tables -- what the reference service serves as. Superusers (what the
other scenarios connect as) are never subject to row-level security."""


def ensure_app_role(url: str) -> str:
    """Create the bench's app role on `url`'s server if missing, grant it SELECT on the
    identity schema of `url`'s database, and return `url` connecting as it."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                              (APP_ROLE,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS").format(
                sql.Identifier(APP_ROLE)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA identity TO {0};"
                             " GRANT SELECT ON ALL TABLES IN SCHEMA identity TO {0}").format(
                                 sql.Identifier(APP_ROLE)))
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{APP_ROLE}@{host}"))


async def _manifest(db: Database) -> dict[str, Any] | None:
    await db.execute(MANIFEST_DDL)
    row = await db.fetch_one("SELECT sizes FROM bench.dataset WHERE id = %s", (1,),
                             readonly=True)
    return None if row is None else dict(row["sizes"])


async def build(url: str, profile: Profile, *, show_progress: bool = True,
                force: bool = False) -> BuildReport:
    """Build the data set `profile` describes in the database at `url` (idempotent)."""
    started = time.perf_counter()
    sizes = profile.sizes()
    async with Database(url, min_size=1, max_size=4, statement_timeout_ms=0) as db:
        migrator = Migrator(db, identity.MIGRATIONS, schema=identity.SCHEMA,
                            statement_timeout_ms=0)
        if not force and await _manifest(db) == sizes:
            try:  # pending migrations are applied; edited ones mean the schema is stale
                await audit.install(db)
                await migrator.up()
            except MigrationDrift as exc:
                print(f"rebuilding: {exc.message}")
            else:
                await db.execute(BULK_TABLE_DDL)
                return BuildReport(url, False, time.perf_counter() - started, sizes)
        await db.execute("DROP SCHEMA IF EXISTS identity CASCADE; "
                         "DROP SCHEMA IF EXISTS audit CASCADE; "
                         "DROP SCHEMA IF EXISTS bench CASCADE")
        await db.execute(MANIFEST_DDL)
        await db.execute(BULK_TABLE_DDL)
        await audit.install(db)
        await migrator.up(target="1")                       # tables only
        await identity.load_sample_data(db, organizations=profile.organizations,
                                        users=profile.users, show_progress=show_progress)
        await _load_audit(db, profile, show_progress=show_progress)
        indexes = time.perf_counter()
        await migrator.up()                                 # secondary indexes over the data
        if show_progress:
            print(f"indexes built in {time.perf_counter() - indexes:.1f} s")
        # VACUUM cannot run inside a transaction block: a plain autocommit connection.
        conn = await db.connect_direct(application_name="pgkeel-bench")
        try:
            for table in ("identity.users", "identity.user_roles", "identity.roles",
                          "audit.audit_log"):
                await conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(
                    sql.Identifier(*table.split("."))))
        finally:
            await conn.close()
        seconds = time.perf_counter() - started
        await db.execute("INSERT INTO bench.dataset (id, sizes, build_s) VALUES (%s, %s, %s)",
                         (1, json.dumps(sizes), seconds))
    return BuildReport(url, True, seconds, sizes)


async def _load_audit(db: Database, profile: Profile, *, show_progress: bool) -> None:
    """`audit_rows` events spread over the organizations and the last 12 months, with
    monthly partitions for them. Each organization's rows are copied contiguously, so the
    hash-chain trigger (which runs at COMMIT, row by row) locks each chain head once."""
    if profile.audit_rows <= 0:
        return
    await db.fetch_all("SELECT audit.create_partitions(%s, now() - make_interval(months => %s))",
                       (AUDIT_MONTHS + 3, AUDIT_MONTHS))
    orgs = await db.fetch_all(
        "SELECT o.id, (SELECT u.id FROM identity.users u WHERE u.organization_id = o.id"
        "              AND u.email LIKE %s) AS admin"
        " FROM identity.organizations o ORDER BY o.slug", ("admin@%",), readonly=True)
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    per_org = max(1, profile.audit_rows // max(1, len(orgs)))
    statement = sql.SQL("COPY audit.audit_log ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, AUDIT_COLUMNS)))
    with Progress(disable=not show_progress) as progress:
        task = progress.add_task("Loading audit rows", total=per_org * len(orgs))
        for org in orgs:
            sample = [r["id"] for r in await db.fetch_all(
                "SELECT id FROM identity.users WHERE organization_id = %s LIMIT 2000",
                (org["id"],), readonly=True)]
            for start in range(0, per_org, AUDIT_CHUNK):
                count = min(AUDIT_CHUNK, per_org - start)
                rows = _audit_rows(str(org["id"]), str(org["admin"]), sample, count, rng, now)
                async with db.transaction() as tx:
                    await tx.begin()
                    async with tx.connection.cursor().copy(statement) as copy:
                        for row in rows:
                            await copy.write_row(row)
                progress.advance(task, count)


def _audit_rows(org: str, actor: str, sample: list[uuid.UUID], count: int, rng: random.Random,
                now: dt.datetime) -> Iterator[tuple[Any, ...]]:
    span = AUDIT_MONTHS * 30 * 86400
    # Ascending times, as a live log would have them.
    offsets = sorted((rng.randrange(span) for _ in range(count)), reverse=True)
    for offset in offsets:
        action = rng.choice(ACTIONS)
        entity = str(rng.choice(sample)) if sample else None
        old = {"status": "active", "display_name": "Ada Lovelace"}
        new = {"status": rng.choice(("active", "suspended")), "display_name": "Ada King"}
        yield (org, actor, action, "User", entity, orjson.dumps(old).decode(),
               orjson.dumps(new).decode(), ["display_name", "status"],
               orjson.dumps({"source": "bench"}).decode(), uuid.UUID(int=rng.getrandbits(128)).hex,
               now - dt.timedelta(seconds=offset))


def servers() -> tuple[str, str, Any]:
    """(admin database URL, Redis URL, embedded servers to stop or None)."""
    from pgkeel.config import load_settings
    from pgkeel.embedded import EmbeddedServers

    settings = load_settings()
    servers = None
    if settings.database_url is None or settings.redis_url is None:
        servers = EmbeddedServers.for_settings(settings)
        settings = servers.settings
    assert settings.database_url is not None
    assert settings.redis_url is not None
    return settings.database_url, settings.redis_url, servers


async def drop_redis_prefix(redis_url: str, prefix: str) -> None:
    """Delete a run's keys under `prefix` (they expire anyway; a shared Redis stays tidy)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
    finally:
        await client.aclose()
