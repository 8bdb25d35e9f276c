"""The pools under a Database: the checkout's count of failed connection attempts."""

from __future__ import annotations

import asyncio
import time

from pgkeel.db.pools import Pools, _connection_errors
from pgkeel.embedded._process import free_port


def _pools(url: str) -> Pools:
    return Pools(url, redacted_url=url, replica_urls=(), name="primary", min_size=1,
                 max_size=2, pool_timeout_s=2.0, connect_timeout_s=1.0,
                 reconnect_timeout_s=5.0, replica_max_lag_s=5.0, statement_timeout_ms=30_000,
                 transaction_pooler=False,
                 connect_kwargs={"autocommit": True, "connect_timeout": 2})


async def test_the_checkout_reads_the_same_error_count_as_the_pool_reports() -> None:
    pools = _pools(f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    pool = pools.primary
    await pools.open()
    try:
        assert _connection_errors(pool) == pool.get_stats().get("connections_errors", 0)
        deadline = time.monotonic() + 10
        while _connection_errors(pool) == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert _connection_errors(pool) > 0   # the failures are seen as they happen
        assert _connection_errors(pool) <= pool.get_stats()["connections_errors"]
    finally:
        await pools.close()
