"""The outbox relay's drain rate by workers and retention, in interleaved rounds:
`python -m bench.relay_variants [--events N] [--rounds N]`.

Each drain is `bench.outbox.relay_drain`: N events pre-inserted (untimed), then one relay with
`workers` batches in flight publishes them to a Redis stream and marks them published
(`keep_published=True`, the default retention) or deletes them (`OUTBOX_RETENTION_S=0`).
The collector is frozen first, as `pgkeel outbox relay` does. Uses DATABASE_URL/REDIS_URL (or
the embedded servers) and a database of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os

from bench.dataset import servers
from bench.outbox import relay_drain
from pgkeel import outbox
from pgkeel.db import Database
from pgkeel.testing.databases import create_database, drop_database

VARIANTS = [(workers, keep) for workers in (1, 2, 4) for keep in (True, False)]


async def run(events: int, rounds: int) -> None:
    admin_url, redis_url, embedded = servers()
    url = create_database(admin_url, prefix="pgkeel_bench_outbox")
    try:
        async with Database(url, min_size=2, max_size=8) as db:
            await outbox.install(db)
            gc.freeze()
            print(f"{events:,} events per drain; load average {os.getloadavg()[0]:.1f}")
            for round_ in range(rounds):
                for workers, keep in VARIANTS:
                    sample = await relay_drain(db, redis_url, events, workers=workers,
                                               keep_published=keep)
                    print(f"round {round_} workers={workers} keep_published={keep}: "
                          f"{events / sample.wall_s:,.0f} events/s", flush=True)
            print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        drop_database(admin_url, url)
        if embedded is not None:
            embedded.stop_started()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.rounds))


if __name__ == "__main__":
    main()
