"""`pgkeel maintain`: run the registered jobs once, or on their schedules with one leader.

    runs = await run_jobs(db, registry, settings)            # the due jobs, once
    async with run_maintenance(db, registry, settings):      # in a service's lifespan
        ...

The schedule lives in `ops.job_runs`, so every process agrees on what is due. A loop
(`Maintainer`) runs jobs only while it holds a session advisory lock: of N copies of a
service, one is the leader and runs each job; when it stops, another takes the lock at its
next tick. Taking a job is one UPDATE, so even a one-off `pgkeel maintain` next to a loop
never runs a job twice at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg

from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.errors import DatabaseError, MaintenanceFailed, PgkeelError
from pgkeel.ops import queries
from pgkeel.ops.jobs import Job, JobContext, JobRegistry, Skipped
from pgkeel.ops.schema import translated

__all__ = ["JobRun", "Maintainer", "job_states", "run_jobs", "run_maintenance", "summary"]

log = logging.getLogger("pgkeel.ops.maintain")

_LOCK_NOT_AVAILABLE = "55P03"
DEFAULT_LOCK_NAME = "pgkeel.maintain"


@dataclass(frozen=True)
class JobRun:
    """One job's outcome: ok, failed, lock_timeout, skipped (the job said why), or not run:
    not_due (its next run is `next_due_at`) or running (another process has it)."""

    name: str
    status: str
    result: Any = None
    error: str | None = None
    duration_ms: float | None = None
    next_due_at: datetime | None = None

    @property
    def ran(self) -> bool:
        return self.status not in ("not_due", "running")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "result": _jsonable(self.result),
                "error": self.error, "duration_ms": self.duration_ms,
                "next_due_at": None if self.next_due_at is None else self.next_due_at.isoformat()}


def _jsonable(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


def summary(result: Any, width: int = 100) -> str:
    """A job's result on one line (JSON, cut at `width` characters)."""
    text = orjson.dumps(_jsonable(result)).decode() if result is not None else ""
    return text if len(text) <= width else text[:width - 1] + "…"


def _describe(exc: Exception) -> str:
    """The error's message, with the server's own words when it came from PostgreSQL."""
    if not isinstance(exc, PgkeelError):
        return str(exc).strip()
    cause = exc.__cause__
    if isinstance(cause, psycopg.Error) and not isinstance(exc, MaintenanceFailed):
        return f"{exc.message} ({str(cause).strip()})"
    return exc.message


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def _register(db: Database, jobs: Iterable[Job]) -> None:
    with translated():
        for job in jobs:
            await db.execute(queries.REGISTER_JOB,
                             {"name": job.name, "every_s": job.every.total_seconds()})


async def job_states(db: Database, registry: JobRegistry) -> list[dict[str, Any]]:
    """Each job's schedule state from `ops.job_runs` (and its description)."""
    await _register(db, registry)
    with translated():
        rows = await db.fetch_all(queries.JOB_STATE, (registry.names(),))
    by_name = {row["name"]: row for row in rows}
    return [{**job.describe(), **{k: v for k, v in by_name[job.name].items() if k != "name"}}
            for job in registry]


async def _run_one(db: Database, job: Job, ctx: JobContext, owner: str, force: bool
                   ) -> JobRun:
    params = {"name": job.name, "owner": owner, "lease_s": job.lease.total_seconds(),
              "force": force}
    with translated():
        claimed = await db.fetch_one(queries.CLAIM_JOB, params)
    if claimed is None:
        with translated():
            [state] = await db.fetch_all(queries.JOB_STATE, ([job.name],))
        return JobRun(job.name, "running" if state["running"] else "not_due",
                      next_due_at=state["next_due_at"])
    started = time.perf_counter()
    status, result, error = "ok", None, None
    try:
        result = await job.fn(ctx)
        if isinstance(result, Skipped):
            status, result = "skipped", {"reason": result.reason}
    except (PgkeelError, psycopg.Error) as exc:
        sqlstate = exc.sqlstate if isinstance(exc, (DatabaseError, psycopg.Error)) else None
        status = "lock_timeout" if sqlstate == _LOCK_NOT_AVAILABLE else "failed"
        error = _describe(exc)
        log.warning("maintenance job %s %s: %s", job.name, status, error)
    except Exception as exc:  # an app's job must not take the loop down with it
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        log.exception("maintenance job %s failed", job.name)
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    with translated():
        await db.execute(queries.FINISH_JOB, {
            "name": job.name, "owner": owner, "status": status, "error": error,
            "result": orjson.dumps(_jsonable(result)).decode(), "duration_ms": duration_ms})
    return JobRun(job.name, status, result, error, duration_ms)


async def run_jobs(db: Database, registry: JobRegistry, settings: Settings, *,
                   names: Iterable[str] | None = None, force: bool = False,
                   owner: str | None = None) -> list[JobRun]:
    """Run the due jobs (all of `registry`, or those `names`) once, in order; `force` runs
    them whether due or not. A job another process is running is left to it."""
    jobs = [registry.get(name) for name in names] if names is not None else list(registry)
    await _register(db, jobs)
    ctx = JobContext(db, settings, settings.maintain_lock_timeout_s)
    who = owner or _owner()
    return [await _run_one(db, job, ctx, who, force) for job in jobs]


class Maintainer:
    """A maintenance loop: at each tick, become (or stay) the leader through a session
    advisory lock on `lock_name`, and if leader run the due jobs."""

    def __init__(self, db: Database, registry: JobRegistry, settings: Settings, *,
                 lock_name: str = DEFAULT_LOCK_NAME, poll_s: float | None = None,
                 owner: str | None = None) -> None:
        self.db, self.registry, self.settings = db, registry, settings
        self.lock_name = lock_name
        self.poll_s = settings.maintain_poll_s if poll_s is None else poll_s
        self.owner = owner or f"{_owner()}:{id(self):x}"
        self._leader: psycopg.AsyncConnection[Any] | None = None

    @property
    def is_leader(self) -> bool:
        return self._leader is not None

    async def elect(self) -> bool:
        """Keep or try to take the leader lock; True when this loop is the leader."""
        if self._leader is not None:
            try:
                await self._leader.execute(queries.LEADER_ALIVE)
                return True
            except psycopg.Error:  # the connection, and with it the lock, is gone
                await self._release()
        conn = await self.db.connect_direct(application_name="pgkeel maintain leader")
        try:
            cursor = await conn.execute(queries.TRY_LEADER_LOCK, (self.lock_name,))
            row = await cursor.fetchone()
        except BaseException:
            await conn.close()
            raise
        if row is not None and row[0]:
            self._leader = conn
            log.info("maintenance leader: %s", self.owner)
            return True
        await conn.close()
        return False

    async def tick(self) -> list[JobRun]:
        """One round: the due jobs' runs if this loop leads, else nothing."""
        if not await self.elect():
            return []
        return await run_jobs(self.db, self.registry, self.settings, owner=self.owner)

    async def run(self, stop: asyncio.Event,
                  on_tick: Callable[[list[JobRun]], None] | None = None) -> None:
        """Tick every `poll_s` until `stop` is set, passing each tick's runs to `on_tick`;
        errors are logged, never fatal."""
        try:
            while not stop.is_set():
                try:
                    runs = await self.tick()
                    if on_tick is not None:
                        on_tick(runs)
                except PgkeelError as exc:
                    log.warning("maintenance tick failed: %s", exc.message)
                except psycopg.Error as exc:
                    log.warning("maintenance tick failed: %s", exc)
                    await self._release()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
        finally:
            await self.close()

    async def close(self) -> None:
        """Give up leadership (closing the connection releases the lock)."""
        await self._release()

    async def _release(self) -> None:
        conn, self._leader = self._leader, None
        if conn is not None:
            await conn.close()


@asynccontextmanager
async def run_maintenance(db: Database, registry: JobRegistry, settings: Settings, *,
                          lock_name: str = DEFAULT_LOCK_NAME) -> AsyncIterator[Maintainer]:
    """Run a maintenance loop in the background for the duration of the block (a service's
    lifespan); every copy of the service can run one, and one leads."""
    maintainer = Maintainer(db, registry, settings, lock_name=lock_name)
    stop = asyncio.Event()
    task = asyncio.create_task(maintainer.run(stop), name="pgkeel-maintain")
    try:
        yield maintainer
    finally:
        stop.set()
        await task
