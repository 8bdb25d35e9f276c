"""CPU per one-shot read: pgkeel against psycopg_pool by hand, in interleaved rounds.
`python -m bench.read_cpu [--reads N] [--rounds N]`.

The same primary-key SELECT of one user from the bench data set (`python -m bench
--build-only`), dict rows, autocommit connections, one read at a time: `db.fetch_one(...,
readonly=True, context=False)` (a one-shot read, as the reference service's reads of tables
without row-level security are), and psycopg_pool with `getconn`/`putconn` and with
`pool.connection()`. Prints the median of the rounds' mean CPU microseconds per read
(`time.process_time`: this process only, not the server's).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from bench.dataset import servers
from pgkeel.db import Database
from pgkeel.testing.databases import database_url

GET_USER: LiteralString = (
    "SELECT id, email, display_name, status, is_active, created_at FROM identity.users"
    " WHERE organization_id = %s AND id = %s")
WARM_UP = 200


async def run(reads: int, rounds: int) -> None:
    admin_url, _, _ = servers()
    url = database_url(admin_url, "pgkeel_bench")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT organization_id, id FROM identity.users LIMIT 1").fetchone()
    assert row is not None
    params = (row[0], row[1])
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        url, min_size=2, max_size=4, open=False,
        kwargs={"row_factory": dict_row, "autocommit": True})
    await pool.open(wait=True)
    async with Database(url, min_size=2, max_size=4) as db:
        async def keel() -> object:
            return await db.fetch_one(GET_USER, params, readonly=True, context=False)

        async def getconn() -> object:
            conn = await pool.getconn()
            try:
                cursor = await conn.execute(GET_USER, params)
                return await cursor.fetchone()
            finally:
                await pool.putconn(conn)

        async def connection() -> object:
            async with pool.connection() as conn:
                cursor = await conn.execute(GET_USER, params)
                return await cursor.fetchone()

        contenders: dict[str, Callable[[], Awaitable[object]]] = {
            "pgkeel fetch_one": keel, "psycopg_pool getconn/putconn": getconn,
            "psycopg_pool connection()": connection}
        spent: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, read in contenders.items():
                for _ in range(WARM_UP):
                    await read()
                began = time.process_time()
                for _ in range(reads):
                    await read()
                spent[name].append((time.process_time() - began) / reads * 1e6)
        for name, samples in spent.items():
            print(f"{name:30s} {statistics.median(samples):6.1f} us CPU per read")
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.reads, args.rounds))


if __name__ == "__main__":
    main()
