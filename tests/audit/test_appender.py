"""The non-blocking appender: batched COPY under load, back-pressure instead of drops, flush
on close, after-commit appends, and a real uvicorn process shut down with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from psycopg import sql

from pgkeel.audit import AuditAppender
from pgkeel.db import use_context
from pgkeel.embedded._process import free_port
from pgkeel.errors import AuditAppenderClosed, AuditQueueFull
from pgkeel.observe.metrics import render_latest

ROOT = Path(__file__).resolve().parents[2]


async def _count(db, org) -> int:
    return int(await db.fetch_val(
        "SELECT count(*) FROM audit.audit_log WHERE organization_id = %s", (org,)))


async def test_load_with_back_pressure_loses_nothing(audit, pgkeel_db, org):
    producers, each = 20, 500
    async with AuditAppender(pgkeel_db, max_queue=300, batch_size=250,
                             flush_interval_s=0.05) as appender:
        async def produce(number: int) -> None:
            with use_context(org_id=org, actor_id=f"p{number}", request_id=f"r{number}"):
                for n in range(each):
                    await appender.append(action="page.view", entity_type="Page",
                                          entity_id=n, metadata={"producer": number})
                    assert appender.pending <= 300          # bounded, never over

        await asyncio.gather(*(produce(i) for i in range(producers)))
    stats = appender.stats()
    assert stats.queued == stats.written == producers * each
    assert (stats.dropped, stats.pending) == (0, 0)
    assert stats.batches >= (producers * each) // 250
    assert await _count(pgkeel_db, org) == producers * each
    per_actor = await pgkeel_db.fetch_all(
        "SELECT actor_id, count(*) AS n, count(DISTINCT request_id) AS r FROM audit.audit_log"
        " WHERE organization_id = %s GROUP BY actor_id", (org,))
    assert sorted((r["actor_id"], r["n"], r["r"]) for r in per_actor) == sorted(
        (f"p{i}", each, 1) for i in range(producers))
    report = await audit.verify(org_id=org)
    assert report.ok and report.rows == producers * each
    text = render_latest().decode()
    for name in ("pgkeel_audit_queued_total", "pgkeel_audit_flushed_total",
                 "pgkeel_audit_dropped_total", "pgkeel_audit_queue_depth"):
        assert name in text


async def test_full_queue_raises_for_nowait_and_close_flushes(audit, pgkeel_db, org):
    appender = AuditAppender(pgkeel_db, max_queue=3, batch_size=100, flush_interval_s=3600)
    with pytest.raises(AuditAppenderClosed):
        appender.append_nowait(action="a", entity_type="T", org_id=org)   # not started
    await appender.start()
    for n in range(3):
        appender.append_nowait(action="a", entity_type="T", entity_id=n, org_id=org)
    with pytest.raises(AuditQueueFull):
        appender.append_nowait(action="a", entity_type="T", entity_id=3, org_id=org)
    waiting = asyncio.create_task(appender.append(action="a", entity_type="T", entity_id=4,
                                                  org_id=org))
    await asyncio.sleep(0.05)
    assert not waiting.done()                       # back-pressure: it waits for room
    await appender.flush()                          # writes now, despite the interval
    await waiting
    assert await _count(pgkeel_db, org) == 3
    await appender.close()                          # and the waiting one on close
    assert await _count(pgkeel_db, org) == 4
    with pytest.raises(AuditAppenderClosed):
        await appender.append(action="a", entity_type="T", org_id=org)
    assert appender.stats().dropped == 0


async def test_append_on_commit_only_after_commit(audit, pgkeel_db, org):
    async with AuditAppender(pgkeel_db, flush_interval_s=0.01) as appender:
        with use_context(org_id=org, actor_id="u1"):
            async with pgkeel_db.transaction() as tx:
                await tx.execute("SELECT 1")
                appender.append_on_commit(tx, action="users.login", entity_type="User",
                                          entity_id=1)
            with pytest.raises(RuntimeError):
                async with pgkeel_db.transaction() as tx:
                    appender.append_on_commit(tx, action="users.login", entity_type="User",
                                              entity_id=2)
                    raise RuntimeError
        await appender.flush()
    rows = await pgkeel_db.fetch_all(
        "SELECT entity_id, actor_id, txid FROM audit.audit_log WHERE organization_id = %s",
        (org,))
    assert [(r["entity_id"], r["actor_id"], r["txid"]) for r in rows] == [("1", "u1", None)]


async def test_sigterm_to_uvicorn_writes_every_queued_event(audit, pgkeel_database_url,
                                                            pgkeel_redis_url, pgkeel_schema,
                                                            org, sync_conn):
    table = f"{pgkeel_schema}.items"
    sync_conn.execute(sql.SQL("CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY"
                              " PRIMARY KEY, org text NOT NULL, name text NOT NULL)").format(
        sql.Identifier(pgkeel_schema, "items")))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": pgkeel_database_url, "REDIS_URL": pgkeel_redis_url,
           "ITEMS_TABLE": table, "AUDIT_FLUSH_INTERVAL_S": "3600",
           "AUDIT_BATCH_SIZE": "100000", "AUDIT_QUEUE_SIZE": "100000",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    log = tempfile.TemporaryFile("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.audit.app_for_shutdown:app", "--port",
         str(port), "--log-level", "warning"], cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the server exited early"
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            await asyncio.sleep(0.1)

        ok: list[int] = []

        async def client(number: int) -> None:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                for n in range(10_000):
                    try:
                        response = await http.post(f"/items/{org}/c{number}-{n}")
                    except httpx.HTTPError:
                        return                      # the server is going away
                    if response.status_code != 200:
                        return
                    ok.append(response.json()["id"])

        clients = [asyncio.create_task(client(i)) for i in range(16)]
        while len(ok) < 1500:
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=base) as http:
            queued = (await http.get("/pending")).json()["pending"]
        assert queued >= 1000                       # events are waiting in memory...
        server.send_signal(signal.SIGTERM)          # ...while requests are still arriving
        await asyncio.gather(*clients)
        # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM.
        assert await asyncio.to_thread(server.wait, 60) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.seek(0)
        output = log.read()
        log.close()

    items = sql.Identifier(pgkeel_schema, "items")
    committed = sync_conn.execute(sql.SQL("SELECT count(*) FROM {}").format(items)).fetchone()
    missing = sync_conn.execute(sql.SQL(
        "SELECT count(*) FROM {} AS i WHERE NOT EXISTS (SELECT FROM audit.audit_log AS a"
        " WHERE a.organization_id = %s AND a.action = 'items.create'"
        " AND a.entity_id = i.id::text)").format(items), (org,)).fetchone()
    events = sync_conn.execute("SELECT count(*) FROM audit.audit_log WHERE organization_id = %s",
                               (org,)).fetchone()
    assert committed is not None and committed[0] >= len(ok) >= 1500
    assert missing == (0,)                          # every committed change has its event
    assert events == committed
    stats = re.search(r"queued=(\d+) written=(\d+) dropped=(\d+) pending=(\d+)", output)
    assert stats, output
    assert stats.group(3, 4) == ("0", "0")          # nothing dropped, nothing left
    assert stats.group(1) == stats.group(2) == str(committed[0])
    assert (await audit.verify(org_id=org)).ok


async def test_a_durable_event_survives_a_killed_process_and_a_queued_one_may_not(
        audit, pgkeel_database_url, org, sync_conn):
    """The crash window, as documented: queued events are in memory until their batch
    commits; `append_durable` returns only once its event has committed."""
    child = subprocess.Popen([sys.executable, "-m", "tests.audit.crash_child", org],
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "DATABASE_URL": pgkeel_database_url})
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "appended"
    finally:
        child.kill()       # SIGKILL: no shutdown, no flush
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    actions = [r[0] for r in sync_conn.execute(
        "SELECT action FROM audit.audit_log WHERE organization_id = %s", (org,))]
    assert actions == ["users.login"]   # the queued items.viewed died with the process
