"""LISTEN on the outbox channel, as a wake-up hint for a relay.

Only a hint: a notification may be lost (a dropped connection, a pooler that does not carry
LISTEN), so the relay always polls as well. The listener reconnects on its own, quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from psycopg import sql

from pgkeel.db import Database
from pgkeel.errors import PgkeelError
from pgkeel.outbox.events import CHANNEL

__all__ = ["Listener"]

log = logging.getLogger("pgkeel.outbox")


class Listener:
    """Sets `wake` whenever a NOTIFY arrives on the outbox channel."""

    def __init__(self, db: Database, wake: asyncio.Event, *, retry_s: float = 5.0) -> None:
        self.db = db
        self.wake = wake
        self.retry_s = retry_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            conn: Any = None
            try:
                conn = await self.db.connect_direct(application_name="pgkeel-outbox-listen")
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                async for _ in conn.notifies():
                    self.wake.set()
            except (psycopg.Error, PgkeelError, OSError) as exc:
                log.debug("outbox listener: %s; polling only for %.0f s", exc, self.retry_s)
            finally:
                if conn is not None:
                    with contextlib.suppress(psycopg.Error, OSError):
                        await conn.close()
            await asyncio.sleep(self.retry_s)
