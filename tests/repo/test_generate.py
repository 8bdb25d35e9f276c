"""`pgkeel repo generate`: declarations from the live catalog that load, match the database,
and fail `--check` once the database drifts."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from psycopg import sql
from typer.testing import CliRunner, Result

from pgkeel.cli.app import app as cli
from pgkeel.db import Database
from pgkeel.repo import FieldType, Op, Table
from pgkeel.repo.catalog import check_tables
from pgkeel.repo.generate import generate_module, read_schema

pytestmark = pytest.mark.smoke

DDL = """
CREATE TABLE {s}.projects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id uuid NOT NULL,
    name text NOT NULL,
    api_token text,
    archived boolean NOT NULL DEFAULT false,
    status text NOT NULL DEFAULT 'active',
    token_type text,
    budget numeric(12, 2),
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    version int NOT NULL DEFAULT 1,
    shape point
);
CREATE INDEX ON {s}.projects (org_id, created_at);
CREATE INDEX ON {s}.projects (org_id, name);
CREATE TABLE {s}.countries (code text PRIMARY KEY, label text NOT NULL);
"""


async def generated(db: Database, schema: str) -> tuple[str, dict[str, Table]]:
    text = generate_module(schema, await read_schema(db, schema))
    namespace: dict[str, object] = {}
    exec(compile(text, "generated.py", "exec"), namespace)  # our own output
    return text, {k: v for k, v in namespace.items() if isinstance(v, Table)}


async def test_declarations_come_from_the_catalog(pgkeel_db: Database, pgkeel_schema: str):
    await pgkeel_db.execute(sql.SQL(DDL.format(s="{s}")).format(s=sql.Identifier(pgkeel_schema)))
    text, tables = await generated(pgkeel_db, pgkeel_schema)
    assert sorted(tables) == ["COUNTRIES", "PROJECTS"]
    projects, countries = tables["PROJECTS"], tables["COUNTRIES"]
    assert projects.tenant == "org_id"
    assert (projects.soft_delete, projects.version) == ("deleted_at", "version")
    assert countries.tenant is None and countries.primary_key == ("code",)
    f = projects.by_name
    assert (f["id"].type, f["id"].writable, f["id"].nullable) == (FieldType.BIGINT, False, False)
    assert f["budget"].type is FieldType.NUMERIC and f["budget"].nullable
    assert f["api_token"].sensitive
    # A computed default is the database's to fill; a constant one leaves the column writable.
    assert (f["created_at"].writable, f["archived"].writable, f["status"].writable) == (
        False, True, True)
    assert not f["version"].writable and not f["token_type"].sensitive
    # Proposed from the (org_id, created_at) and (org_id, name) indexes; nothing else sorts:
    # the primary key (id) alone orders no organization's rows.
    assert set(projects.sortable) == {"createdAt", "name"}
    assert Op.ILIKE in f["name"].filter and Op.GTE in f["created_at"].filter
    assert f["id"].filter and not f["archived"].filter
    assert set(countries.sortable) == {"code"}
    assert "# shape: point has no FieldType; left out" in text
    # Matches the database, and asks for no index it does not have (only for the row-level
    # security this DDL leaves out).
    advice = await check_tables(pgkeel_db, tables.values())
    assert [a.fix for a in advice] == [None] and "row-level security" in advice[0].message


def pgkeel(*args: str, url: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.setenv("DATABASE_URL", url)
    return CliRunner().invoke(cli, list(args))


def test_check_fails_with_a_diff_once_the_database_drifts(
        sync_conn, pgkeel_schema: str, pgkeel_database_url: str, tmp_path: Path, monkeypatch):
    sync_conn.execute(sql.SQL(DDL.format(s="{s}")).format(s=sql.Identifier(pgkeel_schema)))
    module = tmp_path / "tables.py"
    run = functools.partial(pgkeel, url=pgkeel_database_url, monkeypatch=monkeypatch)
    written = run("repo", "generate", "--schema", pgkeel_schema, "-o", str(module))
    assert written.exit_code == 0, written.output
    assert run("repo", "generate", "--schema", pgkeel_schema, "--check", str(module)
               ).exit_code == 0
    sync_conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN due date").format(
        sql.Identifier(pgkeel_schema, "projects")))
    drifted = run("repo", "generate", "--schema", pgkeel_schema, "--check", str(module))
    assert drifted.exit_code == 1
    assert '+    Field("due", FieldType.DATE),' in drifted.stdout
    assert f"error: {module} differs from the database" in drifted.stderr
    empty = run("repo", "generate", "--schema", "no_such_schema")
    assert empty.exit_code == 1
    assert "error: Schema 'no_such_schema' has no tables." in empty.stderr
