"""The Redis sliding-window limiter, lockouts with backoff, the 429 dependency, and what a
limiter does when Redis is down (open or closed, as configured)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import Depends, FastAPI
from redis.asyncio import Redis

from pgkeel.embedded import EmbeddedValkey
from pgkeel.embedded._process import free_port
from pgkeel.errors import RateLimited, RateLimiterUnavailable
from pgkeel.redis_client import connect_redis
from pgkeel.web import install_error_handlers
from pgkeel.web.ratelimit import Lockout, OnUnavailable, SlidingWindowLimiter, rate_limit
from tests.redis_faults import TornDownConnection


@pytest.fixture
def limiter(pgkeel_redis: Redis, pgkeel_redis_prefix: str):
    def make(limit: int = 3, window_s: float = 60, **kw) -> SlidingWindowLimiter:
        return SlidingWindowLimiter(pgkeel_redis, name=kw.pop("name", "t"), limit=limit,
                                    window_s=window_s, prefix=pgkeel_redis_prefix, **kw)
    return make


async def test_the_window_admits_limit_hits_then_refuses_with_retry_after(limiter):
    lim = limiter(limit=3, window_s=60)
    decisions = [await lim.hit("1.2.3.4") for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert decisions[2].count == 3
    assert 0 < decisions[3].retry_after_s <= 60
    assert (await lim.hit("5.6.7.8")).allowed, "each identifier has its own window"
    with pytest.raises(RateLimited) as caught:
        await lim.check("1.2.3.4")
    assert 1 <= caught.value.retry_after_s <= 60


async def test_the_window_slides(limiter):
    lim = limiter(limit=2, window_s=0.3)
    assert (await lim.hit("x")).allowed and (await lim.hit("x")).allowed
    assert not (await lim.hit("x")).allowed
    await asyncio.sleep(0.35)
    assert (await lim.hit("x")).allowed


async def test_concurrent_hits_never_exceed_the_limit(limiter):
    lim = limiter(limit=10, window_s=60, timeout_s=10)  # a loaded machine: no fail-open
    decisions = await asyncio.gather(*(lim.hit("burst") for _ in range(50)))
    assert not any(d.degraded for d in decisions)
    assert sum(d.allowed for d in decisions) == 10


async def test_keys_are_tenant_aware_and_never_hold_the_identifier(limiter, pgkeel_redis,
                                                                   pgkeel_redis_prefix):
    lim = limiter(limit=1, name="login")
    assert (await lim.hit("alice@example.com", org="org-a")).allowed
    assert (await lim.hit("alice@example.com", org="org-b")).allowed, "per organization"
    assert not (await lim.hit("alice@example.com", org="org-a")).allowed
    keys = [k.decode() async for k in pgkeel_redis.scan_iter(f"{pgkeel_redis_prefix}rl:login:*")]
    assert len(keys) == 2
    assert all("alice" not in k for k in keys)
    assert any("{org-a:" in k for k in keys)


async def test_lockout_backs_off_and_success_forgets(pgkeel_redis, pgkeel_redis_prefix):
    lock = Lockout(pgkeel_redis, name="lk", threshold=3, window_s=60, base_s=10, max_s=25,
                   prefix=pgkeel_redis_prefix)
    results = [await lock.failure("bob", org=1) for _ in range(3)]
    assert [r.locked for r in results] == [False, False, True]
    assert results[2].lock_s == 10 and results[2].level == 1
    with pytest.raises(RateLimited) as caught:
        await lock.check("bob", org=1)
    assert 9 <= caught.value.retry_after_s <= 10
    await lock.check("bob", org=2)  # another organization's bob is not locked
    second = [await lock.failure("bob", org=1) for _ in range(3)][-1]
    assert second.locked and second.lock_s == 20 and second.level == 2
    third = [await lock.failure("bob", org=1) for _ in range(3)][-1]
    assert third.lock_s == 25, "capped at max_s"
    await lock.success("bob", org=1)
    assert (await lock.failure("bob", org=1)).failures == 1


async def test_redis_down_fails_open_or_closed_as_configured():
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    try:
        opened = SlidingWindowLimiter(dead, name="o", limit=1, window_s=60)
        decision = await opened.check("x")
        assert decision.allowed and decision.degraded
        closed = SlidingWindowLimiter(dead, name="c", limit=1, window_s=60,
                                      on_unavailable=OnUnavailable.CLOSED)
        with pytest.raises(RateLimiterUnavailable):
            await closed.check("x")
        await Lockout(dead, name="l").check("x")  # open: no lockout can be read, none applied
        with pytest.raises(RateLimiterUnavailable):
            await Lockout(None, name="l", on_unavailable=OnUnavailable.CLOSED).check("x")
    finally:
        await dead.aclose()


async def test_works_on_the_embedded_valkey(tmp_path):
    server = EmbeddedValkey(tmp_path, port=free_port())
    await asyncio.to_thread(server.start)
    client = Redis.from_url(server.url())
    try:
        lim = SlidingWindowLimiter(client, name="v", limit=2, window_s=60)
        assert [(await lim.hit("k")).allowed for _ in range(3)] == [True, True, False]
    finally:
        await client.aclose()
        await asyncio.to_thread(server.stop)


async def test_the_dependency_answers_429_with_retry_after(limiter):
    lim = limiter(limit=2, window_s=60, name="dep")
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/form", dependencies=[Depends(rate_limit(lim))])
    async def form() -> dict[str, bool]:
        return {"ok": True}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        codes = [(await client.get("/form")).status_code for _ in range(2)]
        refused = await client.get("/form")
    assert codes == [200, 200]
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_an_error_inside_the_redis_client_is_an_outage_for_the_policy(
        pgkeel_redis_url, pgkeel_redis_prefix):
    """redis-py's own error on a connection torn down under the limiter's script is
    Redis being unavailable: the configured policy answers, not a 500."""
    if pgkeel_redis_url.startswith("memory://"):
        pytest.skip("needs a Redis server")
    client = connect_redis(pgkeel_redis_url, timeout_s=2.0, connection_class=TornDownConnection)
    try:
        opened = SlidingWindowLimiter(client, name="torn-o", limit=1, window_s=60,
                                      prefix=pgkeel_redis_prefix)
        await client.ping()   # connected: the fault hits a command, not the handshake
        TornDownConnection.armed = True
        decision = await opened.check("x")
        assert decision.allowed and decision.degraded and not TornDownConnection.armed
        closed = SlidingWindowLimiter(client, name="torn-c", limit=1, window_s=60,
                                      prefix=pgkeel_redis_prefix,
                                      on_unavailable=OnUnavailable.CLOSED)
        TornDownConnection.armed = True
        with pytest.raises(RateLimiterUnavailable):
            await closed.check("x")
    finally:
        TornDownConnection.armed = False
        await client.aclose()
