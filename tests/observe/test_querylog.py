"""DB_TRACE, the slow-query ring buffer and query metrics, on real statements."""

from __future__ import annotations

import json
import logging

import pytest

from pgkeel.db import Database


async def test_trace_logs_every_statement_as_json_with_redacted_params(pgkeel_settings, caplog):
    settings = pgkeel_settings.model_copy(update={"db_trace": True})
    caplog.set_level(logging.INFO, logger="pgkeel.trace")
    async with Database.from_settings(settings, min_size=1) as db, db.transaction() as tx:
        await tx.fetch_val("SELECT %s::text", ("secret-value",))
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "pgkeel.trace"]
    query = next(e for e in events if e["sql"] == "SELECT %s::text")
    assert query["params"] == ["<redacted>"]
    assert query["duration_ms"] >= 0
    assert query["pool"] == "primary"
    assert "secret-value" not in caplog.text


async def test_trace_params_can_be_revealed(pgkeel_settings, caplog):
    settings = pgkeel_settings.model_copy(update={"db_trace": True, "db_trace_params": True})
    caplog.set_level(logging.INFO, logger="pgkeel.trace")
    async with Database.from_settings(settings, min_size=1) as db, db.transaction() as tx:
        await tx.fetch_val("SELECT %s::int + 1", (41,))
    assert '"params":[41]' in caplog.text


async def test_slow_queries_are_kept_measured_and_explainable(pgkeel_settings):
    settings = pgkeel_settings.model_copy(update={"slow_query_ms": 50})
    async with Database.from_settings(settings, min_size=1) as db:
        async with db.transaction() as tx:
            await tx.execute("SELECT pg_sleep(0.1), %s::int", (7,))
            await tx.fetch_val("SELECT 1")
        metrics = db.query_metrics()
        assert metrics["total"] >= 2
        assert metrics["slow"] == 1
        slow = db.slow_queries()
        assert [q.sql for q in slow] == ["SELECT pg_sleep(0.1), %s::int"]
        assert slow[0].duration_ms >= 50
        assert slow[0].to_dict()["params"] == ["<redacted>"]
        assert db.slow_queries(min_ms=10_000) == []
        plan = await db.explain(slow[0])
        assert any("Result" in line for line in plan)


@pytest.mark.parametrize("n", [3])
async def test_metrics_count_pipelined_reads(pgkeel_db: Database, n: int):
    before = pgkeel_db.query_metrics()["total"]
    for _ in range(n):
        await pgkeel_db.fetch_val("SELECT 1", readonly=True)
    assert pgkeel_db.query_metrics()["total"] == before + n
