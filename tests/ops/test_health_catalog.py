"""Catalog checks fire for real: an invalid index left by a failed CREATE INDEX CONCURRENTLY,
a sequence close to its column's maximum, a NOT VALID constraint, wraparound headroom, the
cache hit ratio and the connection count."""

from __future__ import annotations

import psycopg
import pytest

from pgkeel import ops
from pgkeel.config import Settings
from pgkeel.ops import State


async def _checks(db, settings) -> dict[str, ops.Check]:
    return {c.name: c for c in await ops.check_database(db, settings)}


async def test_a_failed_create_index_concurrently_leaves_an_invalid_index(
        db, sync_conn, pgkeel_schema, settings_with):
    sync_conn.execute(f'CREATE TABLE "{pgkeel_schema}".dupes (email text)')
    sync_conn.execute(f'INSERT INTO "{pgkeel_schema}".dupes VALUES (%s), (%s)', ("a", "a"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        sync_conn.execute(
            f'CREATE UNIQUE INDEX CONCURRENTLY dupes_email ON "{pgkeel_schema}".dupes (email)')
    check = (await _checks(db, settings_with()))["invalid_indexes"]
    assert check.state is State.WARN
    assert {"index": f"{pgkeel_schema}.dupes_email",
            "sql": f"REINDEX INDEX CONCURRENTLY {pgkeel_schema}.dupes_email"} \
        in check.details["indexes"]
    sync_conn.execute(f'DROP INDEX "{pgkeel_schema}".dupes_email')
    after = (await _checks(db, settings_with()))["invalid_indexes"]
    assert f"{pgkeel_schema}.dupes_email" not in [i["index"] for i in after.details["indexes"]]


async def test_a_sequence_near_its_columns_maximum(db, sync_conn, pgkeel_schema, settings_with):
    schema = pgkeel_schema
    sync_conn.execute(f'CREATE TABLE "{schema}".small (id serial PRIMARY KEY)')
    sync_conn.execute(f'CREATE TABLE "{schema}".big (id bigserial PRIMARY KEY)')
    # A bigint sequence feeding an integer column overflows at the column's maximum.
    sync_conn.execute(f'CREATE TABLE "{schema}".narrow (id int)')
    sync_conn.execute(f'CREATE SEQUENCE "{schema}".narrow_seq AS bigint'
                      f' OWNED BY "{schema}".narrow.id')
    for name in ("small_id_seq", "big_id_seq", "narrow_seq"):
        sync_conn.execute("SELECT setval(%s, 2040109465)", (f"{schema}.{name}",))  # 95%
    check = (await _checks(db, settings_with()))["sequences"]
    assert check.state is State.WARN
    mine = {s["sequence"]: s for s in check.details["sequences"]
            if s["sequence"].startswith(f"{schema}.")}
    assert sorted(mine) == [f"{schema}.narrow_seq", f"{schema}.small_id_seq"]  # bigint: room
    assert mine[f"{schema}.narrow_seq"]["max_value"] == 2147483647
    assert mine[f"{schema}.small_id_seq"]["column"] == f"{schema}.small.id"
    assert mine[f"{schema}.small_id_seq"]["max_value"] == 2147483647

    sync_conn.execute("SELECT setval(%s, 2140000000)", (f"{schema}.small_id_seq",))  # 99.7%
    assert (await _checks(db, settings_with()))["sequences"].state is State.CRIT


async def test_a_not_valid_constraint(db, sync_conn, pgkeel_schema, settings_with):
    sync_conn.execute(f'CREATE TABLE "{pgkeel_schema}".c (n int)')
    sync_conn.execute(f'ALTER TABLE "{pgkeel_schema}".c ADD CONSTRAINT positive'
                      " CHECK (n > 0) NOT VALID")
    check = (await _checks(db, settings_with()))["invalid_constraints"]
    assert check.state is State.WARN
    assert {"constraint": "positive", "table": f"{pgkeel_schema}.c",
            "sql": f"ALTER TABLE {pgkeel_schema}.c VALIDATE CONSTRAINT positive"} \
        in check.details["constraints"]


async def test_wraparound_headroom_against_configured_limits(db, sync_conn, pgkeel_schema,
                                                             settings_with):
    sync_conn.execute(f'CREATE TABLE "{pgkeel_schema}".aging (n int)')
    sync_conn.execute("SELECT txid_current()")  # one transaction ID after the table's
    default = (await _checks(db, settings_with()))["xid_wraparound"]
    assert default.state is State.OK and default.value is not None
    assert 0 < default.value < 2146483648
    everything = 2146483648  # every table with any age is under it
    warn = (await _checks(db, settings_with(ops_xid_left_warn=everything)))["xid_wraparound"]
    assert warn.state is State.WARN
    tables = {t["table"]: t for t in warn.details["tables"]}
    assert tables[f"{pgkeel_schema}.aging"]["sql"] == \
        f"VACUUM (FREEZE, VERBOSE) {pgkeel_schema}.aging"
    crit = await _checks(db, settings_with(ops_xid_left_warn=everything,
                                           ops_xid_left_crit=everything))
    assert crit["xid_wraparound"].state is State.CRIT


async def test_cache_hit_ratio_counts_blocks_read_from_outside_shared_buffers(
        db, sync_conn, pgkeel_schema, settings_with):
    # Extending a new table reads blocks, so the ratio is below 100% for real.
    sync_conn.execute(f'CREATE TABLE "{pgkeel_schema}".cached (n int PRIMARY KEY)')
    sync_conn.execute(f'INSERT INTO "{pgkeel_schema}".cached'
                      " SELECT generate_series(1, 2000)")
    sync_conn.execute("SELECT pg_stat_force_next_flush()")
    ratios = {r["kind"]: r for r in await ops.cache_hit_ratios(db)}
    if ratios["table"]["reads"] == 0 and sync_conn.info.server_version >= 160000:
        pytest.skip("PostgreSQL 16+ does not count extending a table as block reads, and a "
                    "read from outside shared buffers has no other cheap, portable trigger")
    assert ratios["table"]["reads"] > 0 and 0 < ratios["table"]["ratio"] < 1
    perfect = settings_with(ops_cache_hit_min_blocks=0, ops_cache_hit_warn_pct=100,
                            ops_cache_hit_crit_pct=0)
    check = (await _checks(db, perfect))["cache_hit_ratio"]
    assert check.state is State.WARN
    lowest = min(100 * r["ratio"] for r in ratios.values() if r["ratio"] is not None)
    assert check.value == pytest.approx(lowest, abs=0.5)
    not_judged = settings_with(ops_cache_hit_min_blocks=10**12, ops_cache_hit_warn_pct=100)
    assert (await _checks(db, not_judged))["cache_hit_ratio"].state is State.OK


async def test_connections_against_max_connections(db, settings_with):
    default = (await _checks(db, settings_with()))["connections"]
    assert default.details["connections"] >= 1 and default.value is not None
    check = (await _checks(db, settings_with(ops_connections_warn_pct=0)))["connections"]
    assert check.state is State.WARN
    both = await _checks(db, settings_with(ops_connections_warn_pct=0,
                                           ops_connections_crit_pct=0))
    assert both["connections"].state is State.CRIT


async def test_sql_defaults_equal_the_settings_defaults(db):
    in_sql = await db.fetch_val("SELECT ops.default_thresholds()")
    in_settings = ops.thresholds(Settings(database_url=None))
    assert in_sql == {key: in_settings[key] for key in in_sql}
    assert set(in_sql) <= set(in_settings)
