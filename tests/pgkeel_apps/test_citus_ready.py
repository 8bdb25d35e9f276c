"""Every tenant table of every service schema could be distributed by organization (Citus).

Distributing a table by a column requires its primary key and every unique constraint (or
unique index) to include that column, and a foreign key between two distributed tables to
include it on both sides. Checked on the migrated catalog, for the schemas of every app --
including ones added later, found as schemas the migrator owns -- and pgkeel's own `audit`
schema, whose log is keyed by (organization_id, id, created_at).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pgkeel.security.roles import RoleNames
from tests.pgkeel_apps.conftest import Api
from tests.pgkeel_apps.test_row_level_security import TENANT_COLUMNS, service_schemas

TENANT_TABLES = """
SELECT c.oid, n.nspname || '.' || c.relname, a.attnum, a.attname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attname = ANY(%(columns)s)
ORDER BY 2
"""

UNIQUE_INDEXES = """
SELECT i.indrelid, ic.relname, i.indisprimary, i.indkey::int2[]
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indisunique AND i.indrelid = ANY(%(tables)s)
"""

FOREIGN_KEYS = """
SELECT con.conrelid, con.confrelid, con.conname, con.conkey, con.confkey
FROM pg_constraint con
WHERE con.contype = 'f' AND con.conrelid = ANY(%(tables)s)
"""


def citus_problems(conn: psycopg.Connection[Any], schemas: list[str]) -> list[str]:
    """What would stop distributing each tenant table by its tenant column."""
    tenants = {oid: (name, attnum, column) for oid, name, attnum, column in conn.execute(
        TENANT_TABLES, {"schemas": schemas, "columns": list(TENANT_COLUMNS)})}
    tables = list(tenants)
    problems: list[str] = []
    has_primary_key = set()
    for oid, index, primary, columns in conn.execute(UNIQUE_INDEXES, {"tables": tables}):
        name, attnum, column = tenants[oid]
        has_primary_key |= {oid} if primary else set()
        if attnum not in columns:
            kind = "primary key" if primary else "unique index"
            problems.append(f"{name}: {kind} {index} does not include {column}")
    problems += [f"{tenants[oid][0]}: no primary key" for oid in tables
                 if oid not in has_primary_key]
    for table, referenced, fk, columns, referenced_columns in conn.execute(
            FOREIGN_KEYS, {"tables": tables}):
        if referenced not in tenants:
            continue  # a reference table (organizations): Citus allows any key
        pairs = set(zip(columns, referenced_columns, strict=True))
        if (tenants[table][1], tenants[referenced][1]) not in pairs:
            problems.append(f"{tenants[table][0]}: foreign key {fk} to "
                            f"{tenants[referenced][0]} does not join on "
                            f"{tenants[table][2]} = {tenants[referenced][2]}")
    return sorted(problems)


@pytest.fixture
def admin(pgkeel_database_url: str):
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        yield conn


async def test_every_tenant_table_can_be_distributed_by_organization(
        api: Api, admin: psycopg.Connection[Any], role_names: RoleNames):
    schemas = sorted(set(service_schemas(admin, role_names)) | {"audit"})
    assert {"identity", "tags"} <= set(schemas)
    problems = citus_problems(admin, schemas)
    assert problems == [], '\n'.join(problems)


async def test_the_check_catches_a_key_without_the_tenant(
        api: Api, admin: psycopg.Connection[Any], role_names: RoleNames):
    admin.execute("CREATE SCHEMA IF NOT EXISTS citus_probe")
    try:
        admin.execute("""
            CREATE TABLE citus_probe.parents (id uuid PRIMARY KEY, organization_id uuid NOT NULL,
                                              code text UNIQUE,
                                              UNIQUE (organization_id, id));
            CREATE TABLE citus_probe.children (
                organization_id uuid NOT NULL, id uuid NOT NULL, parent_id uuid,
                PRIMARY KEY (organization_id, id),
                FOREIGN KEY (organization_id, parent_id)
                    REFERENCES citus_probe.parents (organization_id, id),
                FOREIGN KEY (parent_id) REFERENCES citus_probe.parents (id))""")
        problems = citus_problems(admin, ["citus_probe"])
    finally:
        admin.execute("DROP SCHEMA citus_probe CASCADE")
    assert len(problems) == 3, problems
    assert any("primary key parents_pkey" in p for p in problems)
    assert any("unique index parents_code_key" in p for p in problems)
    assert any("children_parent_id_fkey" in p for p in problems)
