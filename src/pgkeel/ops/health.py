"""`pgkeel health`: OK / WARN / CRIT per check, and one exit code as a Nagios plugin's.

The database checks are `ops.check_database_health()` (SQL, so psql gives the same answer);
this module adds what only a client can see: connectivity and latency, Redis, the outbox
backlog and, inside a service, its audit appender's queue. Thresholds come from the `OPS_*`
settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from redis.asyncio import Redis

from pgkeel import outbox
from pgkeel.audit import AuditAppender
from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.errors import OutboxNotInstalled, PgkeelError
from pgkeel.ops import queries
from pgkeel.ops.schema import translated
from pgkeel.redis_client import ping_redis, redis_unavailable

__all__ = ["Check", "HealthReport", "State", "check_database", "check_health", "check_pool",
           "thresholds"]


class State(StrEnum):
    """A check's outcome. SKIP: the check does not apply here (the reason is its message)."""

    OK = "OK"
    WARN = "WARN"
    CRIT = "CRIT"
    UNKNOWN = "UNKNOWN"
    SKIP = "SKIP"

    @property
    def exit_code(self) -> int:
        """The Nagios plugin exit code: 0 OK (and SKIP), 1 WARN, 2 CRIT, 3 UNKNOWN."""
        return _EXIT_CODES[self]


_EXIT_CODES = {State.OK: 0, State.SKIP: 0, State.WARN: 1, State.CRIT: 2, State.UNKNOWN: 3}
_SEVERITY = {State.OK: 0, State.SKIP: 0, State.UNKNOWN: 1, State.WARN: 2, State.CRIT: 3}


@dataclass(frozen=True)
class Check:
    """One check's result: `value` is what was measured (its unit is in the message)."""

    name: str
    state: State
    value: float | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state.value, "value": self.value,
                "message": self.message, "details": self.details}


@dataclass(frozen=True)
class HealthReport:
    """Every check; `state` is the worst of them (CRIT > WARN > UNKNOWN > OK, SKIP)."""

    checks: list[Check]

    @property
    def state(self) -> State:
        states = [check.state for check in self.checks] or [State.OK]
        return max(states, key=lambda s: _SEVERITY[s])

    @property
    def exit_code(self) -> int:
        return self.state.exit_code

    def by_name(self) -> dict[str, Check]:
        return {check.name: check for check in self.checks}

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "exit_code": self.exit_code,
                "checks": [check.as_dict() for check in self.checks]}


def thresholds(settings: Settings) -> dict[str, float]:
    """The `OPS_*` settings keyed as `ops.check_database_health()` reads them."""
    return {name.removeprefix("ops_"): value
            for name, value in settings.model_dump().items() if name.startswith("ops_")}


def judge(value: float, warn: float, crit: float, *, lower_is_worse: bool = False) -> State:
    """OK / WARN / CRIT of `value` against two limits (the same rule as `ops._state`)."""
    if lower_is_worse:
        return State.CRIT if value < crit else State.WARN if value < warn else State.OK
    return State.CRIT if value >= crit else State.WARN if value >= warn else State.OK


async def check_database(db: Database, settings: Settings) -> list[Check]:
    """The database-side checks: one row of `ops.check_database_health()` each, then
    `ops.check_replication()` (with the state of this process's replica pools, if any)."""
    params = (orjson.dumps(thresholds(settings)).decode(),)
    with translated():
        rows = await db.fetch_all(queries.CHECK_DATABASE_HEALTH, params)
        rows += await db.fetch_all(queries.CHECK_REPLICATION, params)
    checks = [Check(row["check_name"], State(row["state"]), row["value"], row["message"],
                    row["details"] or {}) for row in rows]
    replicas = db.replica_status()
    if replicas:
        replication = checks[-1]
        down = [r for r in replicas if r.get("down")]
        state = replication.state
        if down and _SEVERITY[state] < _SEVERITY[State.WARN]:
            state = State.WARN
        checks[-1] = Check(replication.name, state, replication.value,
                           replication.message + f"; {len(down)} of {len(replicas)} replica "
                           "pools of this process unhealthy",
                           {**replication.details, "replica_pools": replicas})
    return checks


def check_pool(db: Database, settings: Settings) -> Check:
    """This process's primary pool: connections in use against its maximum, and requests
    waiting for one."""
    stats = db.pool_stats()
    name, primary = next(iter(stats.items()))
    size, available = primary.get("pool_size", 0), primary.get("pool_available", 0)
    limit, waiting = max(1, primary.get("pool_max", 1)), primary.get("requests_waiting", 0)
    pct = round(100.0 * (size - available) / limit, 1)
    state = judge(pct, settings.ops_pool_warn_pct, settings.ops_pool_crit_pct)
    if waiting and state is State.OK:
        state = State.WARN
    if waiting and pct >= settings.ops_pool_crit_pct:
        state = State.CRIT
    elif not waiting and state is State.CRIT:
        state = State.WARN  # all in use but nobody waits: busy, not starved
    return Check("pool", state, pct,
                 f"{size - available} of {limit} connections of pool {name} in use; "
                 f"{waiting} requests waiting", {"pools": stats})


async def _connectivity(db: Database, settings: Settings) -> Check:
    try:
        ping = await db.ping()
    except PgkeelError as exc:  # unreachable, refused, bad credentials: it cannot be used
        return Check("connectivity", State.CRIT, None, f"PostgreSQL unreachable: {exc.message}",
                     {"url": db.url})
    latency = round(ping.latency_ms, 2)
    state = judge(latency, settings.ops_latency_warn_ms, settings.ops_latency_crit_ms)
    return Check("connectivity", state, latency,
                 f"PostgreSQL {ping.server_version // 10000} answered in {latency} ms",
                 {"server_version": ping.server_version, "in_recovery": ping.in_recovery})


async def _redis(redis: Redis | None, settings: Settings) -> list[Check]:
    if redis is None:
        return [Check("redis", State.SKIP, None, "no Redis server configured (REDIS_URL)")]
    try:
        latency = round(await ping_redis(redis), 2)
        info: dict[str, Any] = {}
        for section in queries.REDIS_INFO_SECTIONS:
            info.update(await redis.info(section))
    except Exception as exc:
        if not redis_unavailable(exc):
            raise
        return [Check("redis", State.CRIT, None, f"Redis unreachable: {exc}")]
    checks = [Check("redis", judge(latency, settings.ops_redis_latency_warn_ms,
                                   settings.ops_redis_latency_crit_ms), latency,
                    f"Redis answered PING in {latency} ms")]
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    if limit:
        pct = round(100.0 * used / limit, 1)
        checks.append(Check("redis_memory", judge(pct, settings.ops_redis_memory_warn_pct,
                                                  settings.ops_redis_memory_crit_pct),
                            pct, f"Redis uses {pct}% of maxmemory ({used} of {limit} bytes)",
                            {"used_memory": used, "maxmemory": limit}))
    else:
        checks.append(Check("redis_memory", State.OK, None,
                            f"Redis uses {used} bytes; no maxmemory set, so no limit to judge",
                            {"used_memory": used, "maxmemory": 0}))
    evicted = int(info.get("evicted_keys", 0))
    policy = str(info.get("maxmemory_policy", ""))
    checks.append(Check(
        "redis_evictions", State.WARN if evicted else State.OK, evicted,
        f"{evicted} keys evicted since Redis started (maxmemory-policy {policy})"
        + ("; cached data is being pushed out: raise maxmemory" if evicted else ""),
        {"evicted_keys": evicted, "maxmemory_policy": policy}))
    return checks


async def _outbox(db: Database, settings: Settings) -> list[Check]:
    try:
        backlog = await outbox.stats(db)
    except OutboxNotInstalled:
        return [Check("outbox", State.SKIP, None, "the outbox schema is not installed")]
    pending = judge(backlog.pending, settings.ops_outbox_pending_warn,
                    settings.ops_outbox_pending_crit)
    age_s = round(backlog.oldest_pending_age_s, 1)
    age = judge(age_s, settings.ops_outbox_age_warn_s, settings.ops_outbox_age_crit_s)
    return [
        Check("outbox_pending", pending, backlog.pending,
              f"{backlog.pending} outbox events wait to be published ({backlog.dead} dead)",
              backlog.as_dict()),
        Check("outbox_lag", age, age_s,
              f"the oldest unpublished outbox event is {age_s} s old", backlog.as_dict()),
    ]


def _audit_queue(appender: AuditAppender | None, settings: Settings) -> Check:
    if appender is None:
        return Check("audit_queue", State.SKIP, None,
                     "the audit queue lives in each service process: see its /ops page or "
                     "the pgkeel_audit_queue_depth metric")
    stats = appender.stats()
    pct = round(100.0 * stats.pending / appender.max_queue, 1)
    state = judge(pct, settings.ops_audit_queue_warn_pct, settings.ops_audit_queue_crit_pct)
    return Check("audit_queue", state, pct,
                 f"{stats.pending} audit events queued ({pct}% of {appender.max_queue}); "
                 f"{stats.dropped} dropped", {"pending": stats.pending, "dropped": stats.dropped})


async def _guarded(name: str, fn: Callable[[], Awaitable[list[Check]]]) -> list[Check]:
    """Run one group of checks; an error it cannot judge becomes an UNKNOWN check."""
    try:
        return await fn()
    except PgkeelError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        return [Check(name, State.UNKNOWN, None, f"{exc.message}{hint}", {"code": exc.code})]


async def check_health(db: Database, settings: Settings, *, redis: Redis | None = None,
                       appender: AuditAppender | None = None, pool: bool = True
                       ) -> HealthReport:
    """Every check. With PostgreSQL unreachable, connectivity is CRIT and the database
    checks are skipped; a group that fails otherwise is UNKNOWN (with the reason). `pool`:
    judge `db`'s own pool (a service's; the CLI's small pool says nothing, so it passes
    False)."""
    connectivity = await _connectivity(db, settings)
    checks = [connectivity]
    checks.append(check_pool(db, settings) if pool else Check(
        "pool", State.SKIP, None, "the pool lives in each service process: see its /ops "
        "page or the pgkeel_pool_* metrics"))
    if connectivity.value is None:
        checks.append(Check("database", State.SKIP, None, "skipped: PostgreSQL unreachable"))
    else:
        checks += await _guarded("database", lambda: check_database(db, settings))
        checks += await _guarded("outbox", lambda: _outbox(db, settings))
    checks += await _redis(redis, settings)
    checks.append(_audit_queue(appender, settings))
    return HealthReport(checks)
