"""The connection to PostgreSQL is cut in the middle of a create's COMMIT, under load.

The client gets the documented answer -- 503 `commit_outcome_unknown`, with Retry-After --
and a retry with the same Idempotency-Key never doubles the write: when the COMMIT landed the
retry replays the stored 201; when it did not, the key stays leased (409
`idempotency_key_in_flight`) until its lease ends, then the create runs once.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.conftest import LiveServer
from tests.faults.conftest import FaultStack, check_ledger_against_database, login, record_recovery
from tests.faults.load import IN_FLIGHT, Call, Create, Load


async def send_until_commit(load: Load, target: Create, stack: FaultStack) -> Call:
    """Send the create until its request reaches COMMIT. Under the load, on a loaded machine,
    a try can end before it: a 503 for the pool's timeout (the key is then released, as
    for any answer given before COMMIT), or one lost to a connection the cut of an earlier
    test left in the pool."""
    tries = []
    while len(tries) < 10:
        call = await load.create(target)
        if stack.proxy.commit_cut.is_set():
            return call
        tries.append(call)
        assert call.status == 503 or call.code == IN_FLIGHT or call.error is not None, (
            call.status, call.body)
        await asyncio.sleep(0.2)
    raise AssertionError(f"the COMMIT was never seen: {[(c.status, c.body) for c in tries]}")


@pytest.mark.parametrize("landed", [True, False], ids=["commit-landed", "commit-lost"])
async def test_connection_cut_during_commit(fault_stack: FaultStack, service: LiveServer,
                                            landed: bool):
    token = await asyncio.to_thread(login, service.base_url)
    name = f"cut-{uuid.uuid4().hex[:12]}"
    target = Create(str(uuid.uuid4()), {"email": f"{name}@faults.example",
                                        "displayName": name})
    async with Load(service.base_url, token, clients=16, tag="cut") as load:
        await load.wait_for(20)
        fault_stack.proxy.cut_at_commit(target.body["email"].encode(), forward=landed)
        cut = time.monotonic()
        first = await send_until_commit(load, target, fault_stack)
        assert first.status == 503, (first.body, fault_stack.proxy.fired_on)
        assert first.code == "commit_outcome_unknown"
        assert first.retry_after, "the answer says when to retry"
        assert first.body["hint"]
        retries = []
        while not target.done:
            retries.append(await load.create(target))
            if not target.done:
                await asyncio.sleep(0.2)
        recovered = time.monotonic()
        await load.stop()
        await load.settle()

    final = retries[-1]
    assert final.status == 201, final.body
    if landed:
        assert len(retries) == 1 and final.replayed, "the committed create is replayed"
    else:
        assert {r.code for r in retries[:-1]} <= {IN_FLIGHT}, [r.body for r in retries]
        assert not final.replayed, "the lost create runs again, once its key's lease ends"
    assert not load.server_errors(), [(c.status, c.body) for c in load.server_errors()][:5]
    assert not [c for c in load.calls if c.error is not None], load.summary()
    check_ledger_against_database(fault_stack, [target, *load.creates.values()])
    record_recovery(f"connection cut at COMMIT ({'landed' if landed else 'lost'})", 0.0,
                    recovered - cut, len(load.calls), load.statuses())
