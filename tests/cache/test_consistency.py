"""Consistency with the database: the stale-set race, and invalidation bound to COMMIT.

Real PostgreSQL transactions, real Redis; the interleavings are forced with asyncio.Events,
never with sleeps, so the outcome is deterministic."""

from __future__ import annotations

import asyncio

import pytest
from psycopg import sql

from pgkeel.cache import MISS, key
from pgkeel.db import Database, use_context

pytestmark = pytest.mark.smoke


@pytest.fixture
async def things(pgkeel_db: Database, pgkeel_schema: str) -> sql.Composed:
    table = sql.Identifier(pgkeel_schema, "things")
    await pgkeel_db.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, v text)").format(table))
    await pgkeel_db.execute(sql.SQL("INSERT INTO {} VALUES (1, 'old')").format(table))
    return sql.SQL("{}").format(table)


@pytest.mark.parametrize("invalidate", ["key", "tag"])
@pytest.mark.parametrize("leases", [True, False], ids=["leases", "no-leases"])
async def test_the_stale_set_race(make_cache, pgkeel_db, things, leases, invalidate):
    """R misses and reads 'old'; W commits 'new' and invalidates; then R fills.

    With leases the invalidation cancelled R's lease, so its fill is rejected and the old
    value is never stored. Without leases (the classic look-aside cache) the stale value is
    stored -- which shows this test can fail."""
    cache = make_cache(leases=leases)
    k = key("things", 1, org=1)
    read_done, may_fill = asyncio.Event(), asyncio.Event()

    async def slow_reader():
        value = await pgkeel_db.fetch_val(sql.SQL("SELECT v FROM {} WHERE id = 1").format(things))
        read_done.set()          # R has read the database...
        await may_fill.wait()    # ...and is paused before writing the cache
        return value

    reader = asyncio.create_task(cache.get_or_set(k, slow_reader, tags=["things"]))
    await read_done.wait()
    with use_context(org_id=1):
        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("UPDATE {} SET v = 'new' WHERE id = 1").format(things))
            cache.invalidate_on_commit(tx, k if invalidate == "key" else "things")
    may_fill.set()
    assert await reader == "old"  # R's own answer predates the write: that is fine

    async def fresh():
        return await pgkeel_db.fetch_val(sql.SQL("SELECT v FROM {} WHERE id = 1").format(things))

    if leases:
        assert await cache.get(k) is MISS
        assert cache.stats().resources["things"]["fills_rejected"] == 1
        assert await cache.get_or_set(k, fresh, tags=["things"]) == "new"
    else:
        assert await cache.get(k) == "old"  # the stale set happened
        assert await cache.get_or_set(k, fresh, tags=["things"]) == "old"


async def test_invalidation_is_dropped_when_the_transaction_rolls_back(make_cache, pgkeel_db,
                                                                       things):
    cache = make_cache()
    k = key("things", 1, org=1)
    await cache.set(k, "old", tags=["things"])
    with pytest.raises(RuntimeError), use_context(org_id=1):
        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("UPDATE {} SET v = 'new' WHERE id = 1").format(things))
            cache.invalidate_on_commit(tx, k, "things")
            raise RuntimeError("the handler failed")
    assert await cache.get(k) == "old"
    assert await pgkeel_db.fetch_val(sql.SQL("SELECT v FROM {} WHERE id = 1").format(things)) \
        == "old"
    assert "invalidations" not in cache.stats().resources.get("things", {})


async def test_invalidation_is_applied_right_after_commit(make_cache, pgkeel_db, things):
    cache = make_cache()
    k = key("things", 1, org=1)
    tagged = key("things", 2, org=1)
    await cache.set(k, "old")
    await cache.set(tagged, "old", tags=["things"])
    seen: dict[str, object] = {}
    select = sql.SQL("SELECT v FROM {} WHERE id = 1").format(things)

    async def before_ours():
        seen["committed"] = await pgkeel_db.fetch_val(select)
        seen["cached_then"] = await cache.get(k)

    async def after_ours():
        seen["cached_after"] = (await cache.get(k), await cache.get(tagged))

    with use_context(org_id=1):
        async with pgkeel_db.transaction() as tx:
            await tx.execute(sql.SQL("UPDATE {} SET v = 'new' WHERE id = 1").format(things))
            tx.on_commit(before_ours)
            cache.invalidate_on_commit(tx, k)
            cache.invalidate_on_commit(tx, "things")  # collected into the same batch
            tx.on_commit(after_ours)
            assert await cache.get(k) == "old"  # nothing happens before COMMIT
    assert seen == {"committed": "new", "cached_then": "old", "cached_after": (MISS, MISS)}
    # one batch, delivered once
    assert cache.stats().resources["things"]["invalidations"] == 1
    assert cache.stats().resources["_tag"]["invalidations"] == 1


async def test_plain_tag_names_belong_to_the_transaction_s_organization(make_cache, pgkeel_db):
    cache = make_cache()
    mine, theirs = key("users", 1, org=1), key("users", 1, org=2)
    await cache.set(mine, "a", tags=["users"])
    await cache.set(theirs, "b", tags=["users"])
    with use_context(org_id=1):
        async with pgkeel_db.transaction() as tx:
            await tx.execute("SELECT 1")
            cache.invalidate_on_commit(tx, "users")
    assert (await cache.get(mine), await cache.get(theirs)) == (MISS, "b")
