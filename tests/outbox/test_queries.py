"""The claim's plan: however many due events the planner guesses a worker's share holds, the
claim walks the due index in order and stops at its limit -- it never sorts the backlog."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pgkeel.db import Database
from pgkeel.outbox import queries

EVENTS = 20_000

# One partition key per event, as a service that keys events by aggregate.
BULK_INSERT = """
INSERT INTO outbox.outbox_events (id, aggregate_type, aggregate_id, event_type, payload,
                                  partition_key)
SELECT gen_random_uuid(), 'thing', n::text, 'thing.happened', jsonb_build_object('n', n),
       'thing:' || n
FROM generate_series(1, %s) AS n"""


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def _claim_plan(url: str, shards: int) -> list[dict[str, Any]]:
    """The plan of a claim as a relay's worker runs it: in its claiming transaction, with the
    values bound and no prepared statement (every claim of a new connection, and every claim
    behind a transaction-mode pooler)."""
    async with await psycopg.AsyncConnection.connect(url, prepare_threshold=None) as conn:
        await conn.execute(queries.CLAIM_SETTINGS, ("30000",))
        cursor = await conn.execute(
            "EXPLAIN (FORMAT JSON) " + queries.CLAIM,
            {"limit": 500, "shards": shards, "shard": shards - 1})
        row = await cursor.fetchone()
        assert row is not None
        await conn.rollback()
    return _nodes(row[0][0]["Plan"])


@pytest.mark.parametrize("analyzed", [True, False])
@pytest.mark.parametrize("shards", [1, 2, 4])
async def test_the_claim_walks_the_due_index_and_sorts_nothing(
        db: Database, pgkeel_database_url: str, shards: int, analyzed: bool) -> None:
    await db.execute(BULK_INSERT, (EVENTS,))
    if analyzed:
        await db.execute("ANALYZE outbox.outbox_events")
    nodes = await _claim_plan(pgkeel_database_url, shards)
    assert [n["Node Type"] for n in nodes if "Sort" in n["Node Type"]] == []
    scans = [n for n in nodes if n.get("Relation Name") == "outbox_events"
             and n.get("Index Name") != "outbox_events_key_order"]
    assert [(n["Node Type"], n.get("Index Name")) for n in scans] == [
        ("Index Scan", "outbox_events_due")]
