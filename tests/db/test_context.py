"""`use_context`: what a block sets, what it inherits, and that leaving it -- by an exception
too -- restores exactly what was there before, in Python and in the transactions that follow."""

from __future__ import annotations

import asyncio

import pytest
from psycopg.rows import tuple_row

from pgkeel.db import Database, DbContext, current_context, use_context
from pgkeel.errors import UsageError

SETTINGS = ("SELECT current_setting('pgkeel.org_id', true), "
            "current_setting('pgkeel.actor_id', true), "
            "current_setting('pgkeel.request_id', true)")



def test_a_block_inherits_unset_fields_and_restores_the_outer_one():
    assert current_context() == DbContext()
    with use_context(org_id=1, actor_id="a", request_id="r") as outer:
        with use_context(actor_id="b", client_request_id="c") as inner:
            assert (inner.org_id, inner.actor_id, inner.request_id,
                    inner.client_request_id) == (1, "b", "r", "c")
            assert current_context() is inner
        assert current_context() is outer
    assert current_context() == DbContext()


def test_inherit_false_starts_from_nothing():
    with use_context(org_id=1, actor_id="a"), use_context(inherit=False, request_id="r") as ctx:
        assert (ctx.org_id, ctx.actor_id, ctx.request_id) == (None, None, "r")


def test_an_exception_leaving_the_block_restores_the_outer_context():
    with use_context(org_id=1) as outer:
        with pytest.raises(RuntimeError), use_context(org_id=2):
            raise RuntimeError("boom")
        assert current_context() is outer
    assert current_context() == DbContext()


def test_an_instance_can_be_used_again_but_not_inside_itself():
    block = use_context(org_id=5)
    for _ in range(2):
        with block as ctx:
            assert ctx.org_id == 5
        assert current_context() == DbContext()
    with block, pytest.raises(UsageError, match="already active"), block:
        pass
    assert current_context() == DbContext()


def test_each_block_is_a_new_read_scope():
    with use_context(org_id=1) as first, use_context() as second:
        assert first.scope is not None and second.scope is not None
        assert first.scope is not second.scope


async def test_concurrent_tasks_each_see_their_own_context(pgkeel_settings):
    async with Database.from_settings(pgkeel_settings, min_size=2, max_size=2) as db:
        async def read_as(org: int) -> tuple[str, str, str]:
            with use_context(org_id=org, actor_id=f"u{org}", request_id=f"r{org}"):
                await asyncio.sleep(0)  # let the other task enter its block first
                return await db.fetch_one(SETTINGS, row_factory=tuple_row)

        results = await asyncio.gather(*(read_as(org) for org in range(1, 9)))
        assert results == [(str(o), f"u{o}", f"r{o}") for o in range(1, 9)]


async def test_after_a_failed_block_the_next_transaction_sees_the_outer_context(pgkeel_settings):
    # One connection: every statement below runs on the same session.
    async with Database.from_settings(pgkeel_settings, min_size=1, max_size=1) as db:
        with use_context(org_id=7, actor_id="outer", request_id="r-outer"):
            with pytest.raises(RuntimeError), use_context(org_id=8, actor_id="inner"):
                assert await db.fetch_one(SETTINGS, row_factory=tuple_row) == ("8", "inner",
                                                                            "r-outer")
                raise RuntimeError("boom")
            assert await db.fetch_one(SETTINGS, row_factory=tuple_row) == ("7", "outer", "r-outer")
        assert await db.fetch_one(SETTINGS, row_factory=tuple_row) == ("", "", "")
