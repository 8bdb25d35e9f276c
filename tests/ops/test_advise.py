"""`ops.advise()` on real tables: each advice appears for a real cause, and running the SQL
it gives makes it go away (so the SQL is exact)."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from pgkeel import ops
from pgkeel.cli.app import app


async def _mine(db, schema, **limits) -> dict[tuple[str, str], ops.Advice]:
    found = await ops.advise(db, **limits)
    return {(a.kind, a.object): a for a in found if a.table_name.startswith(f"{schema}.")}


@pytest.fixture
def orders(sync_conn, pgkeel_schema) -> str:
    s = pgkeel_schema
    sync_conn.execute(f'CREATE TABLE "{s}".customers (id int PRIMARY KEY)')
    sync_conn.execute(f'CREATE TABLE "{s}".orders (id int PRIMARY KEY,'
                      f' customer_id int REFERENCES "{s}".customers, a int, b int)')
    sync_conn.execute(f'CREATE INDEX orders_a ON "{s}".orders (a)')
    sync_conn.execute(f'CREATE INDEX orders_a_b ON "{s}".orders (a, b)')
    sync_conn.execute(f'CREATE UNIQUE INDEX orders_b ON "{s}".orders (a)')
    return s


async def test_duplicate_index_and_its_drop(db, sync_conn, orders):
    advice = await _mine(db, orders)
    dup = advice[("duplicate_index", f"{orders}.orders_a")]
    assert dup.details["covered_by"] == f"{orders}.orders_a_b"
    assert dup.sql == f"DROP INDEX CONCURRENTLY {orders}.orders_a;"
    kinds = {kind for kind, obj in advice if obj.endswith("orders_b")}
    assert "duplicate_index" not in kinds  # unique (even though orders_a_b starts with a)
    sync_conn.execute(dup.sql)
    assert ("duplicate_index", f"{orders}.orders_a") not in await _mine(db, orders)


async def test_foreign_key_without_index_and_its_create(db, sync_conn, orders):
    advice = await _mine(db, orders)
    fk = advice[("foreign_key_without_index", "orders_customer_id_fkey")]
    assert fk.sql == f"CREATE INDEX CONCURRENTLY ON {orders}.orders (customer_id);"
    assert fk.details["references"] == f"{orders}.customers"
    sync_conn.execute(fk.sql)
    assert ("foreign_key_without_index", "orders_customer_id_fkey") \
        not in await _mine(db, orders)


async def test_unused_indexes_above_a_size(db, orders):
    small = await _mine(db, orders)  # default: 10 MB, these are tiny
    assert not [k for k in small if k[0] == "unused_index"]
    advice = await _mine(db, orders, unused_index_min_bytes=0)
    unused = {obj for kind, obj in advice if kind == "unused_index"}
    assert unused == {f"{orders}.orders_a", f"{orders}.orders_a_b"}  # no unique, no pkey


async def test_invalid_index(db, sync_conn, pgkeel_schema):
    s = pgkeel_schema
    sync_conn.execute(f'CREATE TABLE "{s}".people (email text)')
    sync_conn.execute(f'INSERT INTO "{s}".people VALUES (%s), (%s)', ("a", "a"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        sync_conn.execute(f'CREATE UNIQUE INDEX CONCURRENTLY people_email ON "{s}".people'
                          " (email)")
    invalid = (await _mine(db, s))[("invalid_index", f"{s}.people_email")]
    assert invalid.sql == f"REINDEX INDEX CONCURRENTLY {s}.people_email;"
    sync_conn.execute(invalid.details["alternative"])
    assert ("invalid_index", f"{s}.people_email") not in await _mine(db, s)


async def test_tables_scanned_sequentially_a_lot(db, sync_conn, pgkeel_schema):
    s = pgkeel_schema
    sync_conn.execute(f'CREATE TABLE "{s}".events (n int)')
    sync_conn.execute(f'INSERT INTO "{s}".events SELECT generate_series(1, 300)')
    for _ in range(5):
        sync_conn.execute(f'SELECT count(*) FROM "{s}".events WHERE n = 7')
    sync_conn.execute("SELECT pg_stat_force_next_flush()")
    assert ("sequential_scans", f"{s}.events") not in await _mine(db, s)  # defaults
    found = await _mine(db, s, seq_scan_min_rows=200, seq_scan_min_count=5)
    scans = found[("sequential_scans", f"{s}.events")]
    assert scans.details["seq_scan"] >= 5 and scans.details["seq_tup_read"] >= 1500
    assert "pg_stat_statements" in scans.sql and "events" in scans.sql


def test_advise_cli_json(monkeypatch, pgkeel_database_url, orders):
    monkeypatch.setenv("DATABASE_URL", pgkeel_database_url)
    runner = CliRunner()
    assert runner.invoke(app, ["ops", "install"]).exit_code == 0
    result = runner.invoke(app, ["advise", "--json", "--unused-min-mb", "0"])
    assert result.exit_code == 0, result.output
    mine = {(a["kind"], a["object"]) for a in json.loads(result.output)
            if a["table_name"].startswith(f"{orders}.")}
    assert ("duplicate_index", f"{orders}.orders_a") in mine
    assert ("unused_index", f"{orders}.orders_a_b") in mine
    assert ("foreign_key_without_index", "orders_customer_id_fkey") in mine
    text = runner.invoke(app, ["advise"])
    assert text.exit_code == 0 and "CREATE INDEX CONCURRENTLY" in text.output


async def test_a_bloated_table_and_the_rewrite_that_fixes_it(db, sync_conn, pgkeel_schema):
    s = pgkeel_schema
    sync_conn.execute(f'CREATE TABLE "{s}".wide (id int, body text)')
    sync_conn.execute(f'INSERT INTO "{s}".wide SELECT g, repeat(\'x\', 200)'
                      " FROM generate_series(1, 20000) g")
    sync_conn.execute(f'DELETE FROM "{s}".wide WHERE id % 10 <> 0')  # 90% gone, pages stay
    sync_conn.execute(f'VACUUM (ANALYZE, TRUNCATE false) "{s}".wide')
    limits = {"bloat_min_bytes": 1024 * 1024, "bloat_min_ratio": 0.5}
    bloat = (await _mine(db, s, **limits))[("bloat", f"{s}.wide")]
    assert bloat.details["ratio"] >= 0.8, bloat.reason
    assert bloat.sql.startswith(f"VACUUM (FULL, ANALYZE) {s}.wide;")
    sync_conn.execute(bloat.sql)
    assert ("bloat", f"{s}.wide") not in await _mine(db, s, **limits)


async def test_settings_hints_follow_the_servers_settings(db, pgkeel_database_url):
    with psycopg.connect(pgkeel_database_url, autocommit=True) as conn:
        def hints() -> dict[str, tuple[str, str]]:
            rows = conn.execute("SELECT object, sql, details->>'current'"
                                " FROM ops.advise_settings()").fetchall()
            return {name: (sql, current) for name, sql, current in rows}

        conn.execute("SET idle_in_transaction_session_timeout = 0")
        conn.execute("SET log_lock_waits = off")
        found = hints()
        assert found["idle_in_transaction_session_timeout"][0] == (
            "ALTER SYSTEM SET idle_in_transaction_session_timeout = '10min';"
            " SELECT pg_reload_conf();")
        assert found["log_lock_waits"][1] == "off"
        conn.execute("SET idle_in_transaction_session_timeout = '5min'")
        conn.execute("SET log_lock_waits = on")
        assert not {"idle_in_transaction_session_timeout", "log_lock_waits"} & set(hints())
    kinds = {a.kind for a in await ops.advise(db)}
    assert kinds <= {"invalid_index", "duplicate_index", "unused_index", "bloat", "setting",
                     "foreign_key_without_index", "sequential_scans"}
