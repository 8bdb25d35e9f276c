"""Writing events: in the caller's transaction, one round trip for many, validated."""

from __future__ import annotations

import pytest

from pgkeel import outbox
from pgkeel.db import Database, use_context
from pgkeel.errors import OutboxEventInvalid, OutboxNotInstalled
from pgkeel.outbox import InProcessSink, OutboxEvent, Relay


def _event(n: int = 0, **kwargs: object) -> OutboxEvent:
    return OutboxEvent("thing.happened", "thing", n, payload={"n": n}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.smoke
async def test_committed_events_are_stored_rolled_back_ones_are_not(db: Database) -> None:
    with use_context(org_id="org-1"):
        async with db.transaction() as tx:
            kept = await outbox.add(tx, _event(1))
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await outbox.add(tx, _event(2))
                await outbox.add_many(tx, [_event(3), _event(4)])
                raise RuntimeError("roll back")
    rows = await db.fetch_all(
        "SELECT id, org_id, partition_key, status, payload FROM outbox.outbox_events")
    assert [(r["id"], r["org_id"], r["partition_key"], r["status"], r["payload"])
            for r in rows] == [(kept, "org-1", "thing:1", "pending", {"n": 1})]


async def test_add_many_keeps_order_and_returns_ids(db: Database) -> None:
    events = [_event(i, partition_key="k") for i in range(50)]
    async with db.transaction() as tx:
        ids = await outbox.add_many(tx, events)
    rows = await db.fetch_all("SELECT id, payload FROM outbox.outbox_events ORDER BY seq")
    assert [r["id"] for r in rows] == ids
    assert [r["payload"]["n"] for r in rows] == list(range(50))


async def test_unordered_events_have_no_key(db: Database) -> None:
    async with db.transaction() as tx:
        await outbox.add(tx, _event(1, ordered=False))
    assert await db.fetch_val("SELECT partition_key FROM outbox.outbox_events") is None


@pytest.mark.parametrize("bad", [
    {"priority": 11}, {"priority": -1}, {"max_attempts": 0}, {"event_type": ""},
    {"payload": {"x": "a\x00b"}},
])
async def test_invalid_events_are_refused(db: Database, bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"event_type": "t", "aggregate_type": "a", "aggregate_id": 1,
                                 **bad}
    async with db.transaction() as tx:
        with pytest.raises(OutboxEventInvalid):
            await outbox.add(tx, OutboxEvent(**fields))  # type: ignore[arg-type]


async def test_missing_schema_is_reported(pgkeel_db: Database) -> None:
    await pgkeel_db.execute("DROP SCHEMA IF EXISTS outbox CASCADE")
    try:
        with pytest.raises(OutboxNotInstalled):
            async with pgkeel_db.transaction() as tx:
                await outbox.add(tx, _event())
        with pytest.raises(OutboxNotInstalled):
            await Relay(pgkeel_db, InProcessSink()).drain()
    finally:
        await outbox.install(pgkeel_db)
