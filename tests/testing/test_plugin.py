"""The published pytest plugin: a database per run (created, then dropped), a Redis prefix, a
schema per test."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.smoke

pytest_plugins = ["pytester"]

INNER_TEST = '''
import psycopg

def test_inside(pgkeel_database_url, pgkeel_schema, pgkeel_redis_prefix, pgkeel_settings):
    with psycopg.connect(pgkeel_database_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s",
                            (pgkeel_schema,)).fetchone()[0] == 1
    assert pgkeel_settings.database_url == pgkeel_database_url
    assert pgkeel_settings.app_env == "test"
    assert pgkeel_redis_prefix.startswith("pgkeel-test:")
    print("INNER_DB=" + name)

async def test_async_db(pgkeel_db, pgkeel_redis, pgkeel_redis_prefix):
    assert await pgkeel_db.fetch_val("SELECT 1") == 1
    await pgkeel_redis.set(pgkeel_redis_prefix + "k", "v")
    assert await pgkeel_redis.get(pgkeel_redis_prefix + "k") == b"v"

async def test_client_without_an_app(pgkeel_client):
    pass
'''


def test_plugin_creates_and_drops_its_database(pytester: pytest.Pytester, admin_url: str):
    pytester.makepyfile(test_inner=INNER_TEST)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    # pgkeel_client needs the project's pgkeel_app, and says how to define it.
    result.stdout.fnmatch_lines(["*pgkeel_app is not defined: in conftest.py write "
                                 "`pgkeel_app = app_fixture(create_app*"])
    inner = next(line.split("=", 1)[1] for line in result.outlines if "INNER_DB=" in line)
    assert inner.startswith("pgkeel_test_")
    with psycopg.connect(admin_url) as conn:
        gone = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                            (inner,)).fetchone()
    assert gone == (0,), "the run's database is dropped afterwards"


def test_each_test_gets_its_own_schema(pgkeel_schema: str, sync_conn):
    assert pgkeel_schema.startswith("t_")
    sync_conn.execute(f'CREATE TABLE "{pgkeel_schema}".x (id int)')


def test_stale_databases_are_dropped_and_live_ones_kept(pgkeel_servers) -> None:
    """Databases of a prefix of this test's own (so no other run's are touched): one nobody is
    in is dropped once older than the cut-off, one with a live session is kept."""
    import secrets

    from pgkeel.testing.databases import create_database, drop_database, drop_stale_databases

    admin = pgkeel_servers.settings.database_url
    prefix = f"pgkeel_stale_{secrets.token_hex(3)}"
    idle, busy = create_database(admin, prefix), create_database(admin, prefix)
    try:
        assert drop_stale_databases(admin, prefix) == []          # both younger than a day
        with psycopg.connect(busy) as conn:
            dropped = drop_stale_databases(admin, prefix, older_than_s=0)
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert dropped == [psycopg.conninfo.conninfo_to_dict(idle)["dbname"]]
    finally:
        drop_database(admin, idle)
        drop_database(admin, busy)
