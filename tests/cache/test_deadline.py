"""The cache's per-call time limit (`CACHE_OP_TIMEOUT_S`): calls ending in the same tick share
one timer, and each behaves as under `asyncio.timeout` -- past its limit it raises
`TimeoutError`, within it it returns, and a cancellation from elsewhere stays one."""

from __future__ import annotations

import asyncio
import signal

from redis.asyncio import Redis

from pgkeel.cache import MISS, Cache, CacheOptions, RedisBackend, key
from pgkeel.cache.deadline import Deadlines


async def _result(value: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return value


async def test_a_call_past_its_limit_raises_timeout_error_and_others_return() -> None:
    deadlines = Deadlines(0.05)
    slow = [asyncio.ensure_future(deadlines.run(lambda: _result("slow", 30)))
            for _ in range(20)]
    fast = [asyncio.ensure_future(deadlines.run(lambda: _result("fast", 0)))
            for _ in range(20)]
    outcomes = await asyncio.gather(*slow, *fast, return_exceptions=True)
    assert all(isinstance(o, TimeoutError) for o in outcomes[:20])
    assert outcomes[20:] == ["fast"] * 20
    # The fast calls may have started a millisecond after the slow ones, so their shared timer
    # can still be due when the slow ones time out: give it the limit's time to fire.
    await asyncio.sleep(deadlines.limit_s)
    assert not deadlines._due  # every timer fired and was forgotten


async def test_the_task_goes_on_normally_after_a_timeout() -> None:
    deadlines = Deadlines(0.02)
    for _ in range(3):  # the task is not left cancelled: its next awaits run normally
        try:
            await deadlines.run(lambda: _result("slow", 30))
        except TimeoutError:
            pass
        assert await deadlines.run(lambda: _result("next", 0)) == "next"
        current = asyncio.current_task()
        assert current is not None and current.cancelling() == 0


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(30)
    started = asyncio.Event()

    async def waits() -> str:
        started.set()
        return await _result("never", 30)

    call = asyncio.ensure_future(deadlines.run(waits))
    await started.wait()
    call.cancel()
    outcome = await asyncio.gather(call, return_exceptions=True)
    assert isinstance(outcome[0], asyncio.CancelledError)


async def test_a_hung_redis_is_bounded_by_the_time_limit_alone(own_redis) -> None:
    """The client has no socket timeout of its own: only the cache's limit ends the call,
    which is then a miss (and a failure for the breaker), not a hang."""
    cache = Cache(RedisBackend(Redis.from_url(own_redis.url), owns_client=True),
                  CacheOptions(prefix="hung:", op_timeout_s=0.2, breaker_failures=100))
    k = key("rows", 1, org=1)
    await cache.set(k, "v")
    assert own_redis.process is not None
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        assert await asyncio.wait_for(cache.get(k), 20) is MISS
        assert cache.stats().resources["_backend"]["errors"] == 1
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    assert await cache.get(k) == "v"
    await cache.aclose()
