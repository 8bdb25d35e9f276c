"""`ops.get_*()` statistics: tables, index usage, cache hit ratios, and pg_stat_statements'
state (this server does not preload it, so the note path is the one tested here)."""

from __future__ import annotations

from pgkeel import ops


async def test_table_and_index_statistics(db, sync_conn, pgkeel_schema):
    schema = pgkeel_schema
    sync_conn.execute(f'CREATE TABLE "{schema}".items (id int PRIMARY KEY, name text)')
    sync_conn.execute(f'CREATE INDEX items_name ON "{schema}".items (name)')
    sync_conn.execute(f'INSERT INTO "{schema}".items SELECT g, g::text'
                      " FROM generate_series(1, 500) g")
    sync_conn.execute(f'DELETE FROM "{schema}".items WHERE id <= 100')
    sync_conn.execute("SELECT pg_stat_force_next_flush()")  # the counts, before ANALYZE's
    sync_conn.execute(f'ANALYZE "{schema}".items')
    sync_conn.execute("SET enable_seqscan = off")
    sync_conn.execute(f'SELECT * FROM "{schema}".items WHERE id = 300')
    sync_conn.execute("SELECT pg_stat_force_next_flush()")

    [table] = [t for t in await ops.table_statistics(db) if t["schema_name"] == schema]
    assert table["table_name"] == "items"
    assert table["live_rows"] == 400 and table["dead_rows"] == 100
    assert table["dead_ratio"] == 0.2
    assert table["total_bytes"] == table["table_bytes"] + table["index_bytes"]
    assert table["last_analyze"] is not None and table["idx_scan"] >= 1

    indexes = {i["index_name"]: i for i in await ops.index_usage(db)
               if i["schema_name"] == schema}
    assert indexes["items_pkey"]["idx_scan"] >= 1 and indexes["items_pkey"]["is_primary"]
    assert indexes["items_name"]["idx_scan"] == 0 and not indexes["items_name"]["is_unique"]
    assert indexes["items_name"]["definition"].startswith("CREATE INDEX items_name")


async def test_slow_queries_without_pg_stat_statements_say_how_to_enable_it(db, sync_conn):
    status = await db.fetch_val("SELECT ops.pg_stat_statements_status()")
    if status == "ready":
        result = await ops.slow_queries(db, min_calls=1, min_mean_ms=0)
        assert result.note is None
        return
    result = await ops.slow_queries(db)
    assert result.queries == [] and result.status == status
    assert result.note is not None and "shared_preload_libraries" in result.note
    if status != "not_created":
        return
    # Created in this database but not preloaded by the server: a different note.
    sync_conn.execute("CREATE EXTENSION pg_stat_statements")
    try:
        loaded = await ops.slow_queries(db)
        assert loaded.status in {"not_loaded", "ready"}
        if loaded.status == "not_loaded":
            assert loaded.queries == [] and "restart" in (loaded.note or "")
    finally:
        sync_conn.execute("DROP EXTENSION pg_stat_statements")


async def test_database_stats_gathers_every_section(db):
    stats = (await ops.database_stats(db)).as_dict()
    assert set(stats) == {"tables", "indexes", "cache", "statements"}
    assert [row["kind"] for row in stats["cache"]] == ["table", "index"]
