"""The relay: claims due outbox events in batches, publishes them to a sink, marks them.

Delivery is at-least-once. A batch is claimed by locking its rows (`FOR UPDATE SKIP LOCKED`) in
a transaction that stays open while the relay publishes, then marked in the same transaction
(one statement for the acknowledged events, one for the failed) and committed. The locks are
the claim: two live relays can never hold the same event, and a relay that dies releases its
claims with its connection -- or, if it hangs, when the server ends its idle transaction after
the lease -- so another relay publishes them again. Per partition key, an event is claimed only
when every earlier one is published (`queries.CLAIM` and `claim.verdicts`), and within a batch a
key's events go to the sink in waves, one per position, so a key's next event is never sent
before the previous one was acknowledged; a failure holds the rest of that key back. Failures
back off exponentially with full jitter up to a cap; out of attempts, an event is dead (kept,
listed by `dead_events`, replayable by `replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgkeel.config import Settings
from pgkeel.db import Database, Transaction
from pgkeel.db.transaction import Statement
from pgkeel.errors import DatabaseError, OutboxNotInstalled, PgkeelError, UsageError
from pgkeel.observe import tracing
from pgkeel.outbox import metrics, queries
from pgkeel.outbox.claim import uuid_array, verdicts
from pgkeel.outbox.events import on_local_commit
from pgkeel.outbox.listen import Listener
from pgkeel.outbox.schema import translated
from pgkeel.outbox.sink import ClaimedMessage, OutboxMessage, PublishResult, Sink

__all__ = ["Backoff", "Relay"]

log = logging.getLogger("pgkeel.outbox")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniformly in
    [0, min(cap_s, base_s * 2**(n-1))] seconds."""

    base_s: float = 1.0
    cap_s: float = 300.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(max(attempt - 1, 0), 62))
        return random.uniform(0.0, ceiling)  # noqa: S311 -- jitter, not a secret


class Relay:
    """Publishes committed outbox events to `sink`.

    `await relay.run(stop)` runs until `stop` is set (or the task is cancelled); `await
    relay.drain()` publishes until no due event is left. `lease` bounds how long one batch may
    stay claimed: the sink call is cut off at `publish_timeout` (default half the lease), and
    the server ends a claiming transaction left idle for the lease. `workers` batches are in
    flight at once (each its own claiming transaction, so one pooled connection each): while
    one waits for PostgreSQL or the sink, another builds its messages. The workers split the
    partition keys between them by a hash of the key, so none waits behind a key another
    holds; order per partition key also holds across relays. Acknowledged events move to
    `outbox.outbox_published` in the claiming transaction; `keep_published=False` deletes them
    instead (no retention). Failed and dead events stay in `outbox.outbox_events`.
    """

    DEFAULT_WORKERS = 2
    """Two batches in flight: the relay builds one while PostgreSQL claims or marks the other."""

    def __init__(
        self,
        db: Database,
        sink: Sink,
        *,
        batch_size: int = 5_000,
        lease: float = 30.0,
        poll_interval: float = 0.5,
        backoff: Backoff | None = None,
        publish_timeout: float | None = None,
        blocked_delay: float = 1.0,
        listen: bool = True,
        metrics_interval: float = 5.0,
        workers: int = DEFAULT_WORKERS,
        keep_published: bool = True,
    ) -> None:
        if batch_size < 1 or lease <= 0 or poll_interval <= 0 or workers < 1:
            raise UsageError("batch_size, lease, poll_interval and workers must be positive.")
        self.workers = workers
        self.keep_published = keep_published
        self.db = db
        self.sink = sink
        self.batch_size = batch_size
        self.lease = lease
        self.poll_interval = poll_interval
        self.backoff = backoff or Backoff()
        self.publish_timeout = publish_timeout or lease / 2
        if self.publish_timeout >= lease:
            raise UsageError("publish_timeout must be shorter than the lease.")
        self.blocked_delay = blocked_delay
        self.listen = listen
        self.metrics_interval = metrics_interval
        self.published = 0
        """Events this relay has published since it was created."""
        self._wake = asyncio.Event()
        self._next_metrics = 0.0

    @classmethod
    def from_settings(cls, db: Database, sink: Sink, settings: Settings, **overrides: Any
                      ) -> Relay:
        """A relay configured by the `OUTBOX_*` settings (keyword arguments win)."""
        options: dict[str, Any] = {
            "batch_size": settings.outbox_batch_size,
            "lease": settings.outbox_lease_s,
            "poll_interval": settings.outbox_poll_interval_s,
            "backoff": Backoff(settings.outbox_backoff_base_s, settings.outbox_backoff_cap_s),
            "listen": settings.outbox_listen,
            "workers": settings.outbox_workers,
            "keep_published": settings.outbox_retention_s > 0,
        }
        options.update(overrides)
        return cls(db, sink, **options)

    # -- running ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Publish until `stop` is set; database and sink outages are waited out."""
        stop = stop or asyncio.Event()
        unregister = on_local_commit(self._wake.set)
        listener = Listener(self.db, self._wake) if self.listen else None
        try:
            if listener is not None:
                listener.start()
            await asyncio.gather(*(self._work(stop, shard) for shard in range(self.workers)))
        finally:
            unregister()
            if listener is not None:
                await listener.stop()

    async def _work(self, stop: asyncio.Event, shard: int) -> None:
        """One worker of `run`: batch after batch of its share of the keys, pausing when
        nothing is due."""
        failures = 0
        while not stop.is_set():
            try:
                claimed = await self._sharded_step(shard)
                failures = 0
            except OutboxNotInstalled:
                raise
            except Exception as exc:  # a long-running worker outlives any one failure
                failures += 1
                pause = self.backoff.delay(failures) + 0.1
                log.warning("outbox relay: %s; retrying in %.1f s", exc, pause,
                            exc_info=not isinstance(exc, DatabaseError | OSError))
                await _wait(stop, None, pause)
                continue
            if claimed < self.batch_size:
                await _wait(stop, self._wake, self.poll_interval)

    async def drain(self) -> int:
        """Publish until no due event is left; returns how many were published."""
        before = self.published

        async def work(shard: int) -> None:
            while await self._sharded_step(shard):
                pass

        await asyncio.gather(*(work(shard) for shard in range(self.workers)))
        return self.published - before

    async def step(self) -> int:
        """One batch: claim, publish, mark, commit. Returns how many events the claim touched,
        claimed or pushed back behind their key's head (0: nothing was due)."""
        with translated():
            return await self._step(1, 0)

    async def _sharded_step(self, shard: int) -> int:
        """A worker's batch: only the keys of its `shard` (of `workers`)."""
        with translated():
            return await self._step(self.workers, shard)

    async def _step(self, shards: int, shard: int) -> int:
        now = time.monotonic()
        if now >= self._next_metrics:
            self._next_metrics = now + self.metrics_interval
            await self.refresh_metrics()
        started = time.perf_counter()
        lease_ms = str(round(self.lease * 1000))
        async with self.db.transaction(timeout=self.lease) as tx:
            _, rows = await tx.fetch_batch([(queries.CLAIM_SETTINGS, (lease_ms,), None),
                                            (queries.CLAIM, {"limit": self.batch_size,
                                                             "shards": shards,
                                                             "shard": shard}, None)])
            claimed, blocked = verdicts(rows)
            push_back: list[Statement] = []
            if blocked:
                push_back.append((queries.PUSH_BACK, (self.blocked_delay,
                                                      uuid_array(blocked)), None))
            if not claimed:
                if push_back:
                    await tx.fetch_batch(push_back)
                return len(rows)
            acked, failed, held = await self._publish(claimed)
            statuses = await self._mark(tx, push_back, acked, failed, held)
        self._count(len(acked), len(failed), statuses)
        metrics.BATCH_SECONDS.labels(self.sink.name).observe(time.perf_counter() - started)
        return len(rows)

    async def refresh_metrics(self) -> None:
        """Set the pending and oldest-pending gauges from the table."""
        row = await self.db.fetch_one(queries.BACKLOG, row_factory=_tuples, readonly=True)
        if row is not None:
            metrics.PENDING.set(row[0])
            metrics.OLDEST_PENDING.set(row[1])

    # -- one batch -------------------------------------------------------------------------

    async def _publish(self, claimed: list[ClaimedMessage]) -> tuple[
            list[str], list[tuple[ClaimedMessage, str]], dict[str, list[ClaimedMessage]]]:
        """Send the batch in waves (a key's n-th event in wave n). Returns the acknowledged
        ids, the failed events with their error, and per failed key the events held back."""
        waves: dict[int, list[ClaimedMessage]] = {}
        for item in claimed:
            waves.setdefault(item.rank, []).append(item)
        acked: list[str] = []
        failed: list[tuple[ClaimedMessage, str]] = []
        held: dict[str, list[ClaimedMessage]] = {}
        for rank in sorted(waves):
            wave = []
            for item in waves[rank]:
                key = item.partition_key
                if key is not None and key in held:
                    held[key].append(item)
                else:
                    wave.append(item)
            if not wave:
                continue
            results = await self._send(wave)
            if not any(results):
                acked += [item.id_text for item in wave]
                continue
            for item, result in zip(wave, results, strict=True):
                if result is None:
                    acked.append(item.id_text)
                    continue
                failed.append((item, _describe(result)))
                if item.partition_key is not None:
                    held[item.partition_key] = []
        return acked, failed, held

    async def _send(self, messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
        """The sink's answers; a sink that raises or times out fails the whole wave."""
        try:
            with tracing.span("pgkeel.outbox.publish", {"pgkeel.outbox.sink": self.sink.name,
                                                        "pgkeel.outbox.events": len(messages)}):
                async with asyncio.timeout(self.publish_timeout):
                    results = await self.sink.publish(messages)
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                exc = TimeoutError(f"sink {self.sink.name} did not answer within "
                                   f"{self.publish_timeout:g} s")
            return [exc] * len(messages)
        if len(results) != len(messages):
            error = PgkeelError(f"sink {self.sink.name} answered {len(results)} results for "
                                f"{len(messages)} messages")
            return [error] * len(messages)
        return results

    async def _mark(self, tx: Transaction, statements: list[Statement], acked: list[str],
                    failed: list[tuple[ClaimedMessage, str]],
                    held: dict[str, list[ClaimedMessage]]) -> list[str]:
        """Archive the acknowledged events and mark the rest for retry (one statement
        each, after `statements`, in one round trip); returns the new status of each failed
        or held event."""
        ids: list[uuid.UUID] = []
        delays: list[float | None] = []
        errors: list[str | None] = []
        counted: list[bool] = []
        head_delay: dict[str | None, float | None] = {}
        for item, error in failed:
            attempt = item.attempts
            out_of_attempts = attempt >= item.max_attempts
            delay = 0.0 if out_of_attempts else self.backoff.delay(attempt)
            head_delay[item.partition_key] = None if out_of_attempts else delay
            ids.append(item.id)
            delays.append(delay)
            errors.append(error[:2000])
            counted.append(True)
        for key, items in held.items():
            for item in items:
                ids.append(item.id)
                delays.append(head_delay[key])
                errors.append(None)
                counted.append(False)
        if acked:
            # One array literal: psycopg's per-element list dumping showed in the profile.
            mark = queries.MARK_PUBLISHED if self.keep_published else queries.DELETE_PUBLISHED
            statements.append((mark, (uuid_array(acked),), None))
        if ids:
            statements.append((queries.MARK_FAILED, (ids, delays, errors, counted), None))
        results = await tx.fetch_batch(statements)
        return [row[0] for row in results[-1]] if ids else []

    def _count(self, acked: int, failed: int, statuses: list[str]) -> None:
        self.published += acked
        name = self.sink.name
        metrics.PUBLISHED.labels(name).inc(acked)
        dead = statuses.count("dead")
        metrics.DEAD.labels(name).inc(dead)
        metrics.RETRIED.labels(name).inc(failed - dead)
        if failed:
            log.warning("outbox relay: %d of %d events failed to publish", failed,
                        acked + failed)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _tuples(cursor: Any) -> Any:
    return tuple


async def _wait(stop: asyncio.Event, wake: asyncio.Event | None, timeout: float) -> None:
    """Sleep up to `timeout`, returning early when `stop` or `wake` is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
    if wake is not None:
        wake.clear()
