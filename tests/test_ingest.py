"""`pgkeel.ingest.BatchQueue`: batches, nothing lost on close, drops counted (full queue,
refused batch, shutdown timeout), failed batches retried. The writer here is a list: the
queue's behaviour does not depend on what a batch is written to."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pgkeel.errors import DatabaseUnavailable, ValidationFailed
from pgkeel.ingest import DROPPED, BatchQueue


def dropped(queue: str, reason: str) -> float:
    return DROPPED.labels(queue, reason)._value.get()


async def test_batches_and_close_writes_everything_queued():
    written: list[list[int]] = []

    async def write(batch: Sequence[int]) -> None:
        written.append(list(batch))

    async with BatchQueue("t-close", write, batch=100, flush_interval_s=0.01) as queue:
        assert all(queue.offer(i) for i in range(1_000))
    assert sorted(i for b in written for i in b) == list(range(1_000))
    assert max(len(b) for b in written) <= 100
    assert queue.stats.accepted == queue.stats.written == 1_000 and queue.stats.dropped == 0
    assert not queue.offer(1) and dropped("t-close", "closed") == 1


async def test_a_full_queue_drops_the_offered_item_and_counts_it():
    gate = asyncio.Event()

    async def write(batch: Sequence[int]) -> None:
        await gate.wait()

    async with BatchQueue("t-full", write, max_queue=5, batch=1, flush_interval_s=0.01) as queue:
        results = [queue.offer(i) for i in range(10)]
        assert results.count(False) == 5 and queue.stats.dropped == 5
        assert dropped("t-full", "full") == 5
        gate.set()
    assert queue.stats.written == 5


async def test_failed_batches_are_retried_and_refused_ones_dropped():
    calls = {"n": 0}
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        calls["n"] += 1
        if 13 in batch:
            raise ValidationFailed("bad row")
        if calls["n"] <= 2:
            raise DatabaseUnavailable("down")
        written.extend(batch)

    async with BatchQueue("t-retry", write, batch=1, flush_interval_s=0.01,
                          max_backoff_s=0.01) as queue:
        for i in (1, 13, 2):
            queue.offer(i)
    assert written == [1, 2]
    assert queue.stats.failed_batches == 2 and queue.stats.dropped == 1
    assert dropped("t-retry", "refused") == 1


async def test_what_cannot_be_written_by_the_shutdown_timeout_is_counted():
    async def write(batch: Sequence[int]) -> None:
        raise DatabaseUnavailable("down for good")

    queue: BatchQueue[int] = BatchQueue("t-timeout", write, batch=2, flush_interval_s=0.01,
                                        shutdown_timeout_s=0.2, max_backoff_s=0.01)
    queue.start()
    for i in range(5):
        queue.offer(i)
    await queue.close()
    assert queue.stats.written == 0 and queue.stats.dropped == 5
    assert dropped("t-timeout", "shutdown") == 5
