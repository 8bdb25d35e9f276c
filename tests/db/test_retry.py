"""run_in_tx: real serialization failures and deadlocks are retried as whole functions."""

from __future__ import annotations

import asyncio
from collections import Counter

import psycopg
import pytest
from psycopg import sql

from pgkeel.db import Database, Isolation, RetryPolicy, Transaction
from pgkeel.errors import Conflict, PgkeelError, TransactionConflict
from pgkeel.observe import REGISTRY

FAST = RetryPolicy(retries=5, base_delay_s=0.001, max_delay_s=0.01)
PATIENT = RetryPolicy(retries=30, base_delay_s=0.002, max_delay_s=0.05)
"""For two transactions retried against each other: on a loaded machine a transaction can take
longer than FAST's delays, so the two retries overlap and conflict again, round after round."""


@pytest.fixture
def table(sync_conn: psycopg.Connection, pgkeel_schema: str) -> sql.Identifier:
    ident = sql.Identifier(pgkeel_schema, "t")
    sync_conn.execute(sql.SQL(
        "CREATE TABLE {} (id int PRIMARY KEY, label text, seen int, hits int DEFAULT 0)"
    ).format(ident))
    return ident


async def test_conflicting_serializable_transactions_both_land_exactly_once(
        pgkeel_settings, table, sync_conn):
    attempts: Counter[str] = Counter()
    both_read = asyncio.Barrier(2)

    def work(name: str, row_id: int):
        async def fn(tx: Transaction) -> None:
            attempts[name] += 1
            seen = await tx.fetch_val(sql.SQL("SELECT count(*) FROM {}").format(table))
            if attempts[name] == 1:
                await both_read.wait()  # both read before either writes: a true rw-conflict
            await tx.execute(sql.SQL("INSERT INTO {} (id, label, seen) VALUES (%s, %s, %s)"
                                     ).format(table), (row_id, name, seen))
        return fn

    async with Database.from_settings(pgkeel_settings, min_size=2) as db:
        await asyncio.gather(
            db.run_in_tx(work("a", 1), isolation=Isolation.SERIALIZABLE, policy=PATIENT),
            db.run_in_tx(work("b", 2), isolation=Isolation.SERIALIZABLE, policy=PATIENT))

    rows = sync_conn.execute(sql.SQL("SELECT label, seen FROM {} ORDER BY seen").format(
        table)).fetchall()
    assert len(rows) == 2, "each effect landed exactly once"
    assert [seen for _, seen in rows] == [0, 1], "the retried one saw the other's row"
    # At least one retry. Under load a retry can start before the winner commits and conflict
    # with it again; the rows above are what serializability promises, whatever the count.
    assert sum(attempts.values()) >= 3, attempts


async def test_a_real_deadlock_is_retried(pgkeel_settings, table, sync_conn):
    sync_conn.execute(sql.SQL("INSERT INTO {} (id) VALUES (1), (2)").format(table))
    attempts: Counter[str] = Counter()
    both_locked = asyncio.Barrier(2)
    before = _retries("deadlock_detected")

    def work(name: str, first: int, second: int):
        async def fn(tx: Transaction) -> None:
            attempts[name] += 1
            bump = sql.SQL("UPDATE {} SET hits = hits + 1 WHERE id = %s").format(table)
            await tx.execute(bump, (first,))
            if attempts[name] == 1:
                await both_locked.wait()
            await tx.execute(bump, (second,))
        return fn

    async with Database.from_settings(pgkeel_settings, min_size=2) as db:
        await asyncio.gather(db.run_in_tx(work("a", 1, 2), policy=FAST),
                             db.run_in_tx(work("b", 2, 1), policy=FAST))

    hits = dict(sync_conn.execute(sql.SQL("SELECT id, hits FROM {}").format(table)).fetchall())
    assert hits == {1: 2, 2: 2}
    assert sum(attempts.values()) == 3
    assert _retries("deadlock_detected") == before + 1


async def test_gives_up_after_n_retries_with_transaction_conflict(pgkeel_db: Database):
    calls = 0
    before = _retries("serialization_failure")

    async def always_conflicts(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await tx.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; "
                         "END $$")

    with pytest.raises(TransactionConflict) as info:
        await pgkeel_db.run_in_tx(always_conflicts, retries=3, policy=FAST)
    assert calls == 4
    assert info.value.details["attempts"] == 4
    assert _retries("serialization_failure") == before + 3


# Everything outside 40001/40P01: unique and foreign-key violations, NOT NULL, division by
# zero, a statement timeout, a missing privilege, a write in a read-only transaction, an
# unclassified error, and 40003 (the outcome of the statement is unknown).
NOT_RETRIED = ["23505", "23503", "23502", "23514", "22012", "57014", "42501", "25006",
               "P0001", "40003", "40002"]


@pytest.mark.parametrize("sqlstate", NOT_RETRIED)
async def test_other_errors_are_not_retried(pgkeel_db: Database, sqlstate: str):
    calls = 0

    async def fails(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await tx.execute(sql.SQL("DO $$ BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = {}; "
                                 "END $$").format(sql.Literal(sqlstate)))

    with pytest.raises(PgkeelError) as info:
        await pgkeel_db.run_in_tx(fails, policy=FAST)
    assert calls == 1, f"{sqlstate} was retried"
    assert getattr(info.value, "sqlstate", sqlstate) == sqlstate


async def test_a_real_unique_violation_runs_the_function_once(pgkeel_db: Database, table):
    calls = 0

    async def inserts_twice(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await tx.execute(sql.SQL("INSERT INTO {} (id) VALUES (1), (1)").format(table))

    with pytest.raises(Conflict):
        await pgkeel_db.run_in_tx(inserts_twice, policy=FAST)
    assert calls == 1


def test_backoff_is_capped_full_jitter():
    policy = RetryPolicy(retries=10, base_delay_s=0.1, max_delay_s=0.5)
    for attempt in range(1, 11):
        ceiling = min(0.5, 0.1 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2, "spread over the whole range"


def _retries(reason: str) -> float:
    return REGISTRY.get_sample_value("pgkeel_tx_retries_total", {"reason": reason}) or 0.0
