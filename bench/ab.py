"""`python -m bench.ab`: how to deliver the request context with a read, measured.

Row-level security reads `pgkeel.org_id`, so a read of an RLS table must set it in the same
transaction. Raw psycopg, one connection pool, the bench data set, the app role (subject to
RLS), interleaved rounds (`bench.timing`); every shape returns the same rows:

- `no_context`       the query alone as a superuser (RLS not applied): the floor
- `pipelined_pair`   `set_config(...)` and the query in one pipeline, no BEGIN/COMMIT (one
                     implicit transaction up to the pipeline's Sync)
- `simple_message`   `SELECT set_config(...); <query>` as one simple-protocol message with
                     client-side binding (one implicit transaction; no prepared statements,
                     text parameters)
- `begin_pair_commit` BEGIN, set_config, query, COMMIT in one pipeline (the former shape)

    python -m bench.ab                  # against the full data set (`make bench` builds it)
    python -m bench.ab --quick --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from typing import Any

from psycopg import AsyncClientCursor, AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from bench import sql as S
from bench.config import PROFILES
from bench.dataset import ensure_app_role, ensure_database
from bench.timing import Contender, Scenario, run_scenario

Pool = AsyncConnectionPool[AsyncConnection[dict[str, Any]]]
SET_ORG = "SELECT set_config('pgkeel.org_id', %s, true)"
SIMPLE_GET = (SET_ORG + "; " + S.GET_USER).encode()
SIMPLE_LIST = (SET_ORG + "; " + S.LIST_OFFSET).encode()


def shapes(plain: Pool, app: Pool, query: str, args: Any) -> list[Contender]:
    """The four ways of sending `query` with `args(i)` -> (org, params)."""
    simple = (SET_ORG + "; " + query).encode()

    async def no_context(i: int) -> object:
        _, params = args(i)
        async with plain.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    async def pipelined(i: int) -> object:
        org, params = args(i)
        async with app.connection() as conn:
            async with conn.pipeline():
                await conn.execute(SET_ORG, (str(org),))
                cur = await conn.execute(query, params)
            return await cur.fetchall()

    async def simple_message(i: int) -> object:
        org, params = args(i)
        async with app.connection() as conn:
            cur = AsyncClientCursor(conn, row_factory=dict_row)
            await cur.execute(simple, (str(org), *params))
            cur.nextset()
            return await cur.fetchall()

    async def begin_pair_commit(i: int) -> object:
        org, params = args(i)
        async with app.connection() as conn:
            async with conn.pipeline():
                await conn.execute("BEGIN READ ONLY")
                await conn.execute(SET_ORG, (str(org),))
                cur = await conn.execute(query, params)
                await conn.execute("COMMIT")
            return await cur.fetchall()

    return [Contender("no_context", no_context), Contender("pipelined_pair", pipelined),
            Contender("simple_message", simple_message),
            Contender("begin_pair_commit", begin_pair_commit)]


async def main(quick: bool, rounds: int) -> None:
    from pgkeel.config import load_settings

    profile = PROFILES["quick" if quick else "full"]
    admin = load_settings().database_url
    if admin is None:
        sys.exit("DATABASE_URL is not set")
    url = ensure_database(admin, profile.database)
    app_url = ensure_app_role(url)
    kwargs = {"autocommit": True, "row_factory": dict_row}
    plain: Pool = AsyncConnectionPool(url, min_size=2, max_size=10, kwargs=kwargs, open=False)
    app: Pool = AsyncConnectionPool(app_url, min_size=2, max_size=10, kwargs=kwargs, open=False)
    await plain.open(wait=True)
    await app.open(wait=True)
    try:
        async with plain.connection() as conn:
            cur = await conn.execute("SELECT organization_id, id FROM identity.users"
                                     " WHERE deleted_at IS NULL ORDER BY md5(id::text)"
                                     " LIMIT 2000")
            rows = [(r["organization_id"], r["id"]) for r in await cur.fetchall()]
        for name, query, args in (
            ("get_by_id", S.GET_USER, lambda i: (rows[i % len(rows)][0], rows[i % len(rows)])),
            ("list_offset_page1", S.LIST_OFFSET,
             lambda i: (rows[i % len(rows)][0], (rows[i % len(rows)][0], True, 20, 0))),
        ):
            contenders = shapes(plain, app, query, args)
            samples = await run_scenario(Scenario(name, "", contenders), rounds=rounds,
                                         block_s=0.8, min_ops=30, max_ops=400)
            floor = statistics.median(samples[0].durations_ns)
            print("   " + ", ".join(
                f"{s.contender} {statistics.median(s.durations_ns) / floor:.2f}x"
                for s in samples))
    finally:
        await app.close()
        await plain.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0]
                                     if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    asyncio.run(main(options.quick, options.rounds))
