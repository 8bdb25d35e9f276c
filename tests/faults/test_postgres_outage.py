"""PostgreSQL crashes (`pg_ctl stop -m immediate`) under load, then comes back.

During the outage every answer is a 503 with Retry-After -- never a 500, never a hang past
the client's timeout; the service answers again within seconds of PostgreSQL being back;
and no acknowledged create is lost or applied twice.
"""

from __future__ import annotations

import asyncio
import time

from tests.conftest import LiveServer
from tests.faults.conftest import FaultStack, check_ledger_against_database, login, record_recovery
from tests.faults.load import Load

UNAVAILABLE = {"database_unavailable", "pool_exhausted", "commit_outcome_unknown"}


async def test_postgres_crash_and_restart_under_load(fault_stack: FaultStack,
                                                     service: LiveServer):
    token = await asyncio.to_thread(login, service.base_url)
    async with Load(service.base_url, token, clients=16, tag="pgcrash") as load:
        await load.wait_for(30)
        crashed = time.monotonic()
        await asyncio.to_thread(fault_stack.postgres.stop, mode="immediate")
        await load.wait_for_status(503, 16, since=crashed)
        await asyncio.to_thread(fault_stack.postgres.start)
        back = time.monotonic()
        await load.wait_for(30, since=back, timeout_s=30)
        await load.stop()
        await load.settle()

    during = [c for c in load.calls if crashed <= c.sent < back and c.status is not None]
    unavailable = [c for c in during if c.status == 503]
    assert unavailable, "the outage was never seen"
    assert all(c.retry_after for c in unavailable), "every 503 says when to retry"
    assert {c.code for c in unavailable} <= UNAVAILABLE
    assert not load.server_errors(), [(c.status, c.body) for c in load.server_errors()][:5]
    assert not load.hangs(), f"{len(load.hangs())} requests hung past the client timeout"
    assert not [c for c in load.calls if c.error is not None], load.summary()
    check_ledger_against_database(fault_stack, load.creates.values())

    recovered = load.first_success_after(back)
    assert recovered is not None
    record_recovery("postgres crash (-m immediate)", back - crashed, recovered - back,
                    len(load.calls), load.statuses())
