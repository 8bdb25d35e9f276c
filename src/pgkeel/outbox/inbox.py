"""`Inbox`: effectively-once consumers over at-least-once delivery.

The handler's writes and the `(consumer, event_id)` row commit in one transaction, so an event
is either handled and recorded, or neither; a redelivered event finds its row and is skipped.
Two consumers racing on the same event serialise on the row: the second one waits, then skips.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, LiteralString, TypeVar

from pgkeel.db import Database, Transaction
from pgkeel.outbox.schema import translated

__all__ = ["Inbox"]

T = TypeVar("T")

CLAIM_ONE: LiteralString = """
INSERT INTO outbox.inbox (consumer, event_id) VALUES (%s, %s)
ON CONFLICT DO NOTHING RETURNING event_id"""

CLAIM_MANY: LiteralString = """
INSERT INTO outbox.inbox (consumer, event_id)
SELECT %s, id FROM unnest(%s::uuid[]) AS ids(id)
ON CONFLICT DO NOTHING RETURNING event_id"""

SEEN: LiteralString = "SELECT 1 FROM outbox.inbox WHERE consumer = %s AND event_id = %s"

PRUNE: LiteralString = """
DELETE FROM outbox.inbox
WHERE (consumer, event_id) IN (
    SELECT consumer, event_id FROM outbox.inbox
    WHERE consumer = %s AND processed_at < now() - %s * interval '1 second'
    LIMIT %s)"""


class Inbox:
    """The inbox of one named consumer."""

    def __init__(self, db: Database, consumer: str) -> None:
        self.db = db
        self.consumer = consumer

    async def handle(self, event_id: uuid.UUID | str,
                     handler: Callable[[Transaction], Awaitable[T]]) -> tuple[bool, T | None]:
        """Run `handler(tx)` unless this consumer already handled `event_id`; the record and
        the handler's writes commit together. Returns (handled now, the handler's result)."""
        async with self.db.transaction() as tx:
            if await _fetch(tx, CLAIM_ONE, (self.consumer, event_id)) == []:
                return False, None
            return True, await handler(tx)

    async def handle_many(
        self, event_ids: Sequence[uuid.UUID | str],
        handler: Callable[[Transaction, list[uuid.UUID]], Awaitable[Any]],
    ) -> list[uuid.UUID]:
        """Batch form: record all of `event_ids` and call `handler(tx, new_ids)` with those not
        handled before, in one transaction. Returns the new ids (in no particular order)."""
        async with self.db.transaction() as tx:
            rows = await _fetch(tx, CLAIM_MANY, (self.consumer, list(event_ids)))
            fresh = [row[0] for row in rows]
            if fresh:
                await handler(tx, fresh)
        return fresh

    async def seen(self, event_id: uuid.UUID | str) -> bool:
        """Whether this consumer has handled `event_id`."""
        return await self.db.fetch_val(SEEN, (self.consumer, event_id), readonly=True) is not None

    async def prune(self, older_than: timedelta, *, batch_size: int = 5_000) -> int:
        """Forget handled events older than `older_than`, in small batches. Keep it longer than
        any redelivery can take (the sink's retention and the relay's backoff)."""
        total = 0
        while True:
            deleted = await self.db.execute(
                PRUNE, (self.consumer, older_than.total_seconds(), batch_size))
            total += deleted
            if deleted < batch_size:
                return total


async def _fetch(tx: Transaction, query: LiteralString, params: tuple[Any, ...]
                 ) -> list[tuple[Any, ...]]:
    with translated():
        return await tx.fetch_all(query, params, row_factory=lambda _: tuple)
