"""The maintenance job registry: what `pgkeel maintain` runs, and how often.

An app declares its jobs once, at import time, and the service and the CLI both find them:

    JOBS = JobRegistry()

    @JOBS.job("commerce.expire_reservations", every=timedelta(minutes=5))
    async def expire_reservations(ctx: JobContext) -> int:
        async with ctx.transaction() as tx:          # runs under the maintain lock_timeout
            return await tx.execute(EXPIRE_RESERVATIONS)

A job is an async function of a `JobContext`; what it returns (a count, a dict, None) is
recorded as its result. `refresh_view()` makes the job that refreshes a materialized view.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection, sql

from pgkeel.config import Settings
from pgkeel.db import Database, Transaction
from pgkeel.errors import ConfigError, UsageError

__all__ = ["Job", "JobContext", "JobFn", "JobRegistry", "Skipped", "load_registry",
           "refresh_view"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class JobContext:
    """What a running job gets: the database, the settings, and the lock_timeout every
    statement it runs must respect, so that it never stops writers for longer."""

    db: Database
    settings: Settings
    lock_timeout_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @asynccontextmanager
    async def transaction(self, *, timeout: float | None = 0) -> AsyncIterator[Transaction]:
        """A transaction under the maintain lock_timeout (and, by default, no statement
        timeout: maintenance statements may be long, they must only not wait for locks)."""
        async with self.db.transaction(lock_timeout=self.lock_timeout_s,
                                       timeout=timeout) as tx:
            yield tx

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection[Any]]:
        """An autocommit connection outside the pool, under the maintain lock_timeout, for
        statements that cannot run in a transaction (VACUUM, REINDEX CONCURRENTLY)."""
        conn = await self.db.connect_direct(application_name="pgkeel maintain")
        try:
            await conn.execute(sql.SQL("SET lock_timeout = {}").format(
                sql.Literal(f"{round(self.lock_timeout_s * 1000)}ms")))
            await conn.execute("SET statement_timeout = 0")
            yield conn
        finally:
            await conn.close()


@dataclass(frozen=True)
class Skipped:
    """Return this from a job that had nothing it could do (e.g. its schema is not
    installed): the run is recorded as `skipped`, with the reason."""

    reason: str


JobFn = Callable[[JobContext], Awaitable[Any]]
"""A job: an async function of its context; its return value is recorded as the result."""


@dataclass(frozen=True)
class Job:
    """A named job that runs `every` (start to start; zero: at every tick of the loop).
    `lease` bounds one run: after it another process may take the job over."""

    name: str
    fn: JobFn
    every: timedelta
    description: str = ""
    lease: timedelta = timedelta(hours=1)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "every_s": self.every.total_seconds(),
                "description": self.description}


class JobRegistry:
    """Named jobs in registration order; names are unique (`app.job_name` by convention)."""

    def __init__(self, jobs: Iterable[Job] = ()) -> None:
        self._jobs: dict[str, Job] = {}
        for job in jobs:
            self._put(job)

    def add(self, name: str, fn: JobFn, *, every: timedelta, description: str | None = None,
            lease: timedelta = timedelta(hours=1)) -> Job:
        """Register `fn` as job `name` (its docstring's first line is the default
        description); a name already taken is a UsageError."""
        doc = (fn.__doc__ or "").strip().splitlines()
        job = Job(name, fn, every, description if description is not None
                  else (doc[0] if doc else ""), lease)
        self._put(job)
        return job

    def job(self, name: str, *, every: timedelta, description: str | None = None,
            lease: timedelta = timedelta(hours=1)) -> Callable[[JobFn], JobFn]:
        """Decorator form of `add`; returns the function unchanged."""
        def register(fn: JobFn) -> JobFn:
            self.add(name, fn, every=every, description=description, lease=lease)
            return fn
        return register

    def include(self, *others: JobRegistry) -> JobRegistry:
        """Add every job of `others` (names must not clash); returns self."""
        for other in others:
            for job in other:
                self._put(job)
        return self

    def get(self, name: str) -> Job:
        try:
            return self._jobs[name]
        except KeyError:
            raise UsageError(f"No maintenance job named {name!r}.",
                             details={"known": list(self._jobs)},
                             hint="List the jobs with `pgkeel maintain --list`.") from None

    def names(self) -> list[str]:
        return list(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs.values()))

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, name: object) -> bool:
        return name in self._jobs

    def _put(self, job: Job) -> None:
        if not _NAME.match(job.name) or len(job.name) > 100:
            raise UsageError(f"Invalid job name {job.name!r}.",
                             hint="Use lower-case words with _ and dots, e.g. commerce.expire_"
                                  "reservations.")
        if job.every < timedelta(0) or job.lease <= timedelta(0):
            raise UsageError(f"Job {job.name!r}: `every` must be >= 0 and `lease` > 0.")
        if job.name in self._jobs:
            raise UsageError(f"A maintenance job named {job.name!r} is already registered.")
        self._jobs[job.name] = job


def refresh_view(view: str, *, concurrently: bool = True) -> JobFn:
    """A job that refreshes materialized view `view` ('schema.name'). CONCURRENTLY (the
    default; the view needs a unique index) lets reads go on during the refresh."""
    parts = view.split(".")
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"Invalid view {view!r}.", hint="Name it as schema.view.")
    statement = sql.SQL("REFRESH MATERIALIZED VIEW {}{}").format(
        sql.SQL("CONCURRENTLY " if concurrently else ""), sql.Identifier(*parts))

    async def refresh(ctx: JobContext) -> dict[str, Any]:
        async with ctx.transaction() as tx:
            await tx.execute(statement)
        return {"view": view, "concurrently": concurrently}

    refresh.__doc__ = f"Refresh materialized view {view}."
    return refresh


def load_registry(path: str, settings: Settings) -> JobRegistry:
    """The registry at import path 'module:attribute': a JobRegistry, or a function of the
    settings that returns one."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"Invalid job registry path {path!r}.",
                          hint="Write it as module:attribute, e.g. myapp.jobs:JOBS.")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"Cannot load the job registry {path!r}: {exc}.",
                          hint="Check MAINTAIN_JOBS / --jobs and that the module is "
                               "installed.") from exc
    registry = target if isinstance(target, JobRegistry) else target(settings)
    if not isinstance(registry, JobRegistry):
        raise ConfigError(f"{path!r} is not a JobRegistry nor a function returning one.")
    return registry
