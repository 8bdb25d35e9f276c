"""Running a relay inside a service: `run_relay` as an async context manager, e.g. from a
FastAPI lifespan, so the service publishes its own events without a separate process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pgkeel.outbox.relay import Relay

__all__ = ["run_relay"]

log = logging.getLogger("pgkeel.outbox")


@asynccontextmanager
async def run_relay(relay: Relay, *, close_sink: bool = True) -> AsyncIterator[Relay]:
    """Run `relay` as a background task for the duration of the block; on exit, let it finish
    its batch and stop (claims it could not finish are taken back after their lease)."""
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(relay.run(stop), name="pgkeel-outbox-relay")

    def _report(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error("outbox relay stopped: %s", done.exception())

    task.add_done_callback(_report)
    try:
        yield relay
    finally:
        stop.set()
        # Failures were logged by _report; a relay that will not stop in time is cancelled.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=relay.lease / 2)
        if close_sink:
            await relay.sink.close()
