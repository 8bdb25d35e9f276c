"""What the audit log costs, measured: `python bench/audit_cost.py [--quick]`.

Runs against DATABASE_URL (else the embedded PostgreSQL) in a throw-away database, and prints
a table (numbers are per machine: compare rows, not absolute values):

1. a business transaction (UPDATE one row) alone, with `record()`, and with the same row
   INSERTed into a plain table (same indexes, no partitions, no chain): the difference is
   what partitioning and the commit-time chain cost;
2. 8 concurrent writers: one organization (they queue on its chain lock at commit) versus
   eight organizations, against the same writers without audit;
3. `append()`: the caller's cost per call, and the appender's end-to-end throughput;
4. a bulk UPDATE of 10,000 rows: no capture, statement-level capture, row-level capture;
5. `verify`: rows checked per second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from pgkeel.audit import AuditAppender, AuditLog
from pgkeel.audit.events import prepare
from pgkeel.config import load_settings
from pgkeel.db import Database, use_context
from pgkeel.embedded import EmbeddedServers
from pgkeel.testing.databases import create_database, drop_database

UPDATE = "UPDATE bench_accounts SET balance = balance + 1 WHERE id = %s"


async def timed(fn: Callable[[], Awaitable[object]], n: int) -> list[float]:
    """Per-call latencies in microseconds."""
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1e6)
    return out


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {p50:7.0f} µs, p95 {p95:7.0f} µs"


PLAIN_INSERT = """
INSERT INTO bench_plain_log (organization_id, actor_id, action, entity_type, entity_id,
                             old_values, new_values, changed_fields, metadata, request_id)
VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::text[], %s::jsonb, %s)
RETURNING id"""


async def single_writer(db: Database, audit: AuditLog, n: int) -> list[tuple[str, str]]:
    # The same row, same indexes, same round trip -- into a plain table without partitions
    # or the commit-time chain: the difference is what partitioning + chaining cost.
    await db.execute("CREATE TABLE bench_plain_log (LIKE audit.audit_log INCLUDING DEFAULTS"
                     " INCLUDING IDENTITY INCLUDING INDEXES)")
    counter = iter(range(10**9))
    event = {"action": "accounts.update", "entity_type": "Account", "old": {"balance": 1},
             "new": {"balance": 2}, "org_id": "bench-single", "actor_id": "bench"}

    async def plain() -> None:
        async with db.transaction() as tx:
            await tx.execute(UPDATE, (next(counter) % 1000,))

    async def with_record() -> None:
        async with db.transaction() as tx:
            i = next(counter) % 1000
            await tx.execute(UPDATE, (i,))
            await audit.record(tx, entity_id=i, **event)

    async def with_plain_insert() -> None:
        async with db.transaction() as tx:
            i = next(counter) % 1000
            await tx.execute(UPDATE, (i,))
            row = prepare(entity_id=i, context=tx.context, **event)
            await tx.fetch_val(PLAIN_INSERT, row.insert_params())

    results: dict[str, list[float]] = {"plain": [], "record": [], "insert": []}
    for _ in range(5):   # interleaved blocks, so drift hits every variant alike
        results["plain"] += await timed(plain, n // 5)
        results["insert"] += await timed(with_plain_insert, n // 5)
        results["record"] += await timed(with_record, n // 5)
    p50 = {name: statistics.median(values) for name, values in results.items()}
    return [("tx: UPDATE one row", summary(results["plain"])),
            ("tx: UPDATE + same row INSERTed into a plain table", summary(results["insert"])),
            ("tx: UPDATE + record()", summary(results["record"])),
            ("record() added per transaction (p50)", f"{p50['record'] - p50['plain']:7.0f} µs"),
            ("  of which partitioning + chain at commit (p50)",
             f"{p50['record'] - p50['insert']:7.0f} µs")]


async def concurrent_writers(db: Database, audit: AuditLog, n: int) -> list[tuple[str, str]]:
    async def run(orgs: list[str] | None) -> float:
        async def writer(w: int) -> None:
            for i in range(n // 8):
                async with db.transaction() as tx:
                    await tx.execute(UPDATE, (w * 100 + i % 100,))
                    if orgs is not None:
                        await audit.record(tx, action="accounts.update", entity_type="Account",
                                           entity_id=i, org_id=orgs[w], new={"i": i})
        started = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(8)))
        return (n // 8) * 8 / (time.perf_counter() - started)

    base = await run(None)
    one = await run(["bench-one"] * 8)
    eight = await run([f"bench-{w}" for w in range(8)])
    return [("8 writers, no audit", f"{base:7.0f} tx/s"),
            ("8 writers, record(), one organization", f"{one:7.0f} tx/s"),
            ("8 writers, record(), eight organizations", f"{eight:7.0f} tx/s")]


async def appender_cost(db: Database, n: int) -> list[tuple[str, str]]:
    async with AuditAppender(db, max_queue=n + 1, batch_size=1000,
                             flush_interval_s=0.05) as appender:
        with use_context(org_id="bench-append", actor_id="bench"):
            started = time.perf_counter()
            for i in range(n):
                await appender.append(action="page.view", entity_type="Page", entity_id=i,
                                      metadata={"path": f"/p/{i}"})
            caller = (time.perf_counter() - started) / n * 1e6
            await appender.flush()
            total = time.perf_counter() - started
    return [("append(): caller cost per event", f"{caller:7.1f} µs"),
            ("appender: events written per second", f"{n / total:7.0f} /s")]


async def bulk_update(db: Database, audit: AuditLog) -> list[tuple[str, str]]:
    await db.execute("CREATE TABLE bench_bulk (id bigint PRIMARY KEY, status text, n int)")
    await db.execute("INSERT INTO bench_bulk SELECT i, 'a', i FROM generate_series(1, 10000) i")
    rows = []

    async def update(status: str) -> float:
        started = time.perf_counter()
        with use_context(org_id="bench-bulk", actor_id="bench"):
            async with db.transaction(timeout=0) as tx:
                await tx.execute("UPDATE bench_bulk SET status = %s, n = n + 1", (status,))
        return (time.perf_counter() - started) * 1000

    for label, mode in [("no capture", None), ("statement-level capture", "statement"),
                        ("row-level capture", "row")]:
        if mode is None:
            await audit.disable("bench_bulk")
        else:
            await audit.enable("bench_bulk", mode="row" if mode == "row" else "statement")
        runs = [await update(f"{label}-{i}") for i in range(3)]
        rows.append((f"UPDATE 10,000 rows, {label}", f"{min(runs):7.0f} ms"))
    return rows


async def verify_speed(audit: AuditLog) -> list[tuple[str, str]]:
    started = time.perf_counter()
    report = await audit.verify(org_id="bench-bulk")
    elapsed = time.perf_counter() - started
    assert report.ok, report.findings[:5]
    return [("verify", f"{report.rows / elapsed:7.0f} rows/s ({report.rows} rows)")]


async def main(quick: bool) -> None:
    servers = EmbeddedServers.for_settings(load_settings(), redis=False)
    admin = servers.settings.database_url
    assert admin is not None
    url = create_database(admin, prefix="pgkeel_bench")
    try:
        async with Database(url, min_size=8, max_size=8) as db:
            audit = AuditLog(db)
            await audit.install()
            await db.execute("CREATE TABLE bench_accounts (id int PRIMARY KEY, balance int)")
            await db.execute("INSERT INTO bench_accounts SELECT i, 0 FROM"
                             " generate_series(0, 999) i")
            version = await db.fetch_val("SHOW server_version")
            rows = [("PostgreSQL", str(version))]
            rows += await single_writer(db, audit, 500 if quick else 3000)
            rows += await concurrent_writers(db, audit, 800 if quick else 4000)
            rows += await appender_cost(db, 10_000 if quick else 100_000)
            rows += await bulk_update(db, audit)
            rows += await verify_speed(audit)
    finally:
        drop_database(admin, url)
        servers.stop_started()
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value.strip()} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    asyncio.run(main(parser.parse_args().quick))

