"""Fault injection on a real Redis connection (the server stays real)."""

from __future__ import annotations

from redis.asyncio.connection import Connection


class TornDownConnection(Connection):
    """A real connection that another task tears down while it checks its health, as a
    cluster failover closing a node's connections does: redis-py before 8.2 then fails with
    its own AttributeError (no writer), later releases with a ConnectionError. `armed = True`
    injects it into the next command of any such connection, once."""

    armed = False

    async def check_health(self) -> None:
        if type(self).armed:
            type(self).armed = False
            await self.disconnect()
        await super().check_health()
