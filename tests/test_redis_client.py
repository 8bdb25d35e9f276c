"""One factory opens every Redis client; each use passes its own timeouts and retries."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from pgkeel.cache import Cache
from pgkeel.errors import UsageError
from pgkeel.redis_client import connect_redis, ping_redis, redis_unavailable
from pgkeel.runtime import open_services
from tests.redis_faults import TornDownConnection


def _options(client) -> tuple[float, int]:
    kwargs = client.connection_pool.connection_kwargs
    return kwargs["socket_timeout"], kwargs["retry"].get_retries()


async def test_per_use_options_reach_the_connections(pgkeel_redis_url):
    client = connect_redis(pgkeel_redis_url, timeout_s=0.7, retries=2)
    try:
        assert _options(client) == (0.7, 2)
        assert await ping_redis(client) >= 0
    finally:
        await client.aclose()
    with pytest.raises(UsageError):
        connect_redis("memory://")


async def test_the_service_and_its_cache_use_the_one_factory(pgkeel_settings):
    settings = pgkeel_settings.model_copy(update={"cache_op_timeout_s": 0.3})
    async with open_services(settings) as services, Cache.from_settings(settings) as cache:
        assert _options(services.redis) == (0.5, 1)          # the service: one retry
        backend = cache.backend
        client = getattr(backend, "l2", backend).client
        assert _options(client) == (0.3, 0)                   # the cache: no retries


async def test_an_error_raised_inside_redis_py_counts_as_redis_unavailable(pgkeel_redis_url):
    """A connection torn down under a command is an outage, whichever error redis-py raises
    for it: its own AttributeError (no writer) in the releases before 8.2, a ConnectionError
    since. The same AttributeError raised by other code is not an outage."""
    if pgkeel_redis_url.startswith("memory://"):
        pytest.skip("needs a Redis server")
    client = connect_redis(pgkeel_redis_url, timeout_s=2.0, connection_class=TornDownConnection)
    try:
        await client.ping()   # connected: the fault hits a command, not the handshake
        TornDownConnection.armed = True
        with pytest.raises((AttributeError, RedisConnectionError)) as raised:
            await client.get("pgkeel-test:torn")
        assert redis_unavailable(raised.value)
        assert await client.get("pgkeel-test:torn") is None   # the next command reconnects
    finally:
        TornDownConnection.armed = False
        await client.aclose()
    with pytest.raises(AttributeError) as ours:   # the same error, raised here: a bug
        _ = None.writelines  # type: ignore[attr-defined]
    assert not redis_unavailable(ours.value)
    assert redis_unavailable(ConnectionError()) and redis_unavailable(TimeoutError())
