"""Published events kept: marked in place against moved to the archive, in interleaved drains.
`python -m bench.relay_archive [--events N] [--rounds N] [--workers N]`.

Each drain is `bench.outbox.relay_drain`'s (N events pre-inserted and analyzed, untimed; one
relay publishes them to a Redis stream), after a CHECKPOINT so every drain writes its pages'
first images alike. `archive` is the relay as it is: acknowledged events move to
`outbox.outbox_published`. `in-place` is how the relay kept them before: an UPDATE to
`status = 'published'` in `outbox.outbox_events`, with that table's index on `published_at`
for pruning. Each variant has a database of its own (dropped afterwards). Prints events/s and
the CPU of all PostgreSQL processes (from /proc) and of the relay, per drain and as medians.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
from pathlib import Path
from typing import LiteralString

from bench.dataset import servers
from bench.outbox import insert_events
from pgkeel import outbox
from pgkeel.db import Database
from pgkeel.outbox import queries
from pgkeel.testing.databases import create_database, drop_database

IN_PLACE: LiteralString = """
WITH marked AS (
    UPDATE outbox.outbox_events
    SET status = 'published', published_at = now(), attempts = attempts + 1
    WHERE id = ANY(%s::uuid[])
    RETURNING 1
)
SELECT count(*) FROM marked"""
IN_PLACE_INDEX: LiteralString = """
CREATE INDEX outbox_events_published ON outbox.outbox_events (published_at)
    WHERE status = 'published'"""
VARIANTS: dict[str, tuple[tuple[LiteralString, ...], LiteralString]] = {
    "archive": ((), queries.MARK_PUBLISHED), "in-place": ((IN_PLACE_INDEX,), IN_PLACE)}
"""Each variant's set-up statements and the statement that marks acknowledged events."""


def postgres_cpu_s() -> float:
    """User + system CPU of every process named postgres, from /proc."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.partition("(")[2].rpartition(")")
        if name.startswith("postgres"):
            fields = rest.split()
            ticks += int(fields[11]) + int(fields[12])   # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def drain(db: Database, redis_url: str, events: int, workers: int,
                mark: LiteralString) -> tuple[float, float, float]:
    """One drain: (events/s, PostgreSQL CPU s, relay CPU s)."""
    await db.execute("TRUNCATE outbox.outbox_events, outbox.outbox_published")
    await insert_events(db, events)
    await db.execute("ANALYZE outbox.outbox_events")
    await db.execute("CHECKPOINT")
    sink = outbox.RedisStreamSink.from_url(redis_url, stream="pgkeel-bench:archive",
                                           maxlen=None)
    relay = outbox.Relay(db, sink, listen=False, workers=workers)
    saved, queries.MARK_PUBLISHED = queries.MARK_PUBLISHED, mark
    try:
        pg, cpu, began = postgres_cpu_s(), time.process_time(), time.perf_counter()
        published = await relay.drain()
        wall = time.perf_counter() - began
        pg, cpu = postgres_cpu_s() - pg, time.process_time() - cpu
    finally:
        queries.MARK_PUBLISHED = saved
        await sink.redis.delete("pgkeel-bench:archive")
        await sink.close()
    if published != events:
        raise RuntimeError(f"published {published} of {events}")
    return events / wall, pg, cpu


async def run(events: int, rounds: int, workers: int) -> None:
    admin_url, redis_url, _ = servers()
    urls = {name: create_database(admin_url, prefix="pgkeel_bench_archive") for name in VARIANTS}
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
    try:
        dbs = {name: Database(url, min_size=2, max_size=8) for name, url in urls.items()}
        for name, db in dbs.items():
            await db.open()
            await outbox.install(db)
            for statement in VARIANTS[name][0]:
                await db.execute(statement)
        gc.freeze()
        print(f"{events:,} events per drain, {workers} workers; load average "
              f"{os.getloadavg()[0]:.1f}")
        for round_ in range(rounds):
            for name, db in dbs.items():
                rate, pg, cpu = await drain(db, redis_url, events, workers, VARIANTS[name][1])
                results[name].append((rate, pg, cpu))
                print(f"round {round_} {name:8s} {rate:8,.0f} events/s  PostgreSQL {pg:.2f} s"
                      f"  relay {cpu:.2f} s", flush=True)
        for name, samples in results.items():
            rate, pg, cpu = (statistics.median(s[i] for s in samples) for i in range(3))
            print(f"median   {name:8s} {rate:8,.0f} events/s  PostgreSQL {pg:.2f} s"
                  f"  relay {cpu:.2f} s")
        print(f"load average {os.getloadavg()[0]:.1f}")
        for db in dbs.values():
            await db.close()
    finally:
        for url in urls.values():
            drop_database(admin_url, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=outbox.Relay.DEFAULT_WORKERS)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.rounds, args.workers))


if __name__ == "__main__":
    main()
