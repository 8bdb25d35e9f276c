"""`InProcessSink`: keeps published messages in a list -- for tests and local experiments.

It can be told to misbehave: refuse some messages (`refuse`), or raise for whole batches
(`fail_batches`), to exercise the relay's retries, dead letters and replays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from pgkeel.outbox.sink import OutboxMessage, PublishResult

__all__ = ["InProcessSink", "SinkRefused"]


class SinkRefused(Exception):
    """The in-process sink refused this message (as it was told to)."""


class InProcessSink:
    """Appends every acknowledged message to `messages`."""

    name = "memory"

    def __init__(self, *, refuse: Callable[[OutboxMessage], bool] | None = None,
                 fail_batches: int = 0, delay_s: float = 0.0) -> None:
        self.messages: list[OutboxMessage] = []
        self.refuse = refuse
        """Messages for which this returns True are refused (a per-message failure)."""
        self.fail_batches = fail_batches
        """This many coming publish() calls raise ConnectionError (a broker that is down)."""
        self.delay_s = delay_s
        self.calls = 0
        self.closed = False

    @property
    def ids(self) -> list[str]:
        return [str(message.id) for message in self.messages]

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_batches > 0:
            self.fail_batches -= 1
            raise ConnectionError("in-process sink told to fail this batch")
        results: list[PublishResult] = []
        for message in messages:
            if self.refuse is not None and self.refuse(message):
                results.append(SinkRefused(f"refused {message.event_type} {message.id}"))
            else:
                self.messages.append(message)
                results.append(None)
        return results

    async def close(self) -> None:
        self.closed = True
