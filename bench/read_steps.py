"""Where a repository read's time goes, one layer at a time, against raw psycopg.
`python -m bench.read_steps [--reads N] [--rounds N] [--only list_keyset,...]`.

Each step adds one layer of pgkeel to the one before it, on the bench data set (`python -m
bench --build-only`), through the hot-path scenarios' own pools and repositories:

- `raw_psycopg`      the scenario's raw contender
- `same_sql_raw`     pgkeel's compiled statement and parameters, sent by raw psycopg (the same
                     pipeline with pgkeel's context statement on an RLS table): is the SQL the
                     difference?
- `database_read`    `Database.read_compiled` with statements compiled beforehand: the pool
                     checkout, the context values, the query observer
- `plan_and_read`    + `use_context` and compiling the request (lists: `build_list`, the shape
                     memo and the parameter values, and for keyset verifying and decoding the
                     cursor; get: the statement compiled beforehand, the values bound)
- `plan_read_finish` + turning rows into the result (lists: `finish_list`, for keyset signing
                     the next and previous cursors; get: the first row)
- `repository`       the scenario's pgkeel contender: `Repository.list`/`get`, which adds the
                     call timing (histogram, slow-call counter) and its layers of calls

The order of the steps is shuffled every round, and each round times `--reads` reads of each
step in a row. Printed per step: the median over rounds of CPU microseconds per read (this
process only, `time.process_time`) and of wall microseconds per read, and how much each adds
to the step before it. Steps differ by a few microseconds, which is what this host resolves
in medians over a dozen rounds and no better: read the column of differences as a split of
the gap, not as exact costs.

`--instructions` counts instead of timing: each step runs alone in a process under valgrind's
callgrind, once with `--reads` reads and once with `--reads` + 1,000, and the difference over
1,000 is the instructions this process executes per read (the server's work is not counted).
For the single-statement reads (the scenarios without row-level security) the counts repeat
whatever else the machine is doing, so they split the gap where timings cannot. They do not
see cache misses, which make the same instructions slower inside a loop of real reads than in
a tight loop of them. The pipelined reads (`_rls`) do not repeat: how many turns of the event
loop a pipeline's results take depends on when they arrive, and two runs of one step differed
by 75,000 instructions a read; so `--instructions` counts the single-statement scenarios only.
Needs valgrind (Debian's package); about 7 minutes a scenario.

    python -m bench.read_steps --only list_keyset            # timings
    python -m bench.read_steps --only list_keyset --instructions
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench import scenarios as sc
from bench.config import PROFILES, Profile
from bench.dataset import build, ensure_database, servers
from bench.timing import Scenario
from pgkeel.db import Database, use_context
from pgkeel.repo import Repository
from pgkeel.repo.compiler import Where
from pgkeel.repo.listing import build_list, finish_list

Op = Callable[[int], Awaitable[object]]
STEPS = ["raw_psycopg", "same_sql_raw", "database_read", "plan_and_read", "plan_read_finish",
         "repository"]
COUNTABLE = ["get_by_id", "list_offset_page1", "list_keyset"]
"""The scenarios whose instruction counts repeat (one statement, no pipeline)."""
Statements = list[Any]
WARM_UP = 300
SET_CONTEXT = ("SELECT set_config('pgkeel.org_id', %s, true),"
               " set_config('pgkeel.actor_id', %s, true),"
               " set_config('pgkeel.request_id', %s, true)")
"""pgkeel's context statement (organization, actor, request id), as its documentation gives it."""


@dataclass
class Read:
    """One scenario's read, split into what the steps put together: `compile(i)` -> (plan,
    statements) for request i, `finish(plan, rows)` -> the result."""

    scenario: Scenario
    db: Database
    org: Callable[[int], Any]
    compile: Callable[[int], tuple[Any, Statements]]
    finish: Callable[[Any, list[list[Any]]], object]


def _steps(env: sc.Env, read: Read) -> dict[str, Op]:
    rls = read.db is env.app_db
    pool = env.app_raw if rls else env.raw
    compiled = [read.compile(i)[1] for i in range(2_000)]
    contenders = {c.name: c.op for c in read.scenario.contenders}

    async def same_sql_raw(i: int) -> object:
        statement, params, _ = compiled[i % len(compiled)][0]
        async with sc._borrow(pool) as conn:
            if not rls:
                cursor = await conn.execute(statement, params)
                return await cursor.fetchall()
            async with conn.pipeline():
                await conn.execute(SET_CONTEXT, (str(read.org(i)), "", ""))
                cursor = await conn.execute(statement, params)
            return await cursor.fetchall()

    async def database_read(i: int) -> object:
        with use_context(org_id=read.org(i)):
            return await read.db.read_compiled(compiled[i % len(compiled)], context=rls)

    async def plan_and_read(i: int) -> object:
        with use_context(org_id=read.org(i)):
            _, statements = read.compile(i)
            return await read.db.read_compiled(statements, context=rls)

    async def plan_read_finish(i: int) -> object:
        with use_context(org_id=read.org(i)):
            plan, statements = read.compile(i)
            return read.finish(plan, await read.db.read_compiled(statements, context=rls))

    steps = {"raw_psycopg": contenders["raw_psycopg"], "same_sql_raw": same_sql_raw,
             "database_read": database_read, "plan_and_read": plan_and_read,
             "plan_read_finish": plan_read_finish, "repository": contenders["pgkeel"]}
    assert list(steps) == STEPS
    return steps


def _get(env: sc.Env, scenario: Scenario, repo: Repository[dict[str, Any]]) -> Read:
    org, uid = env.row(0)
    where = Where()
    repo.compiler.scope(where, org)
    repo.compiler.key(where, (uid,))
    statement = repo.compiler.select(where)

    def compile(i: int) -> tuple[Any, Statements]:
        org, uid = env.row(i)
        return None, [(statement, [org, uid], repo.row_factory)]
    return Read(scenario, repo.db, lambda i: env.row(i)[0], compile,
                lambda _, rows: rows[0][0] if rows[0] else None)


def _list(scenario: Scenario, repo: Repository[dict[str, Any]],
          requests: list[tuple[Any, Any]]) -> Read:
    def compile(i: int) -> tuple[Any, Statements]:
        org, query = requests[i % len(requests)]
        plan = build_list(repo.compiler, repo.codec, query, org, repo.row_factory)
        return plan, plan.statements
    return Read(scenario, repo.db, lambda i: requests[i % len(requests)][0], compile,
                lambda plan, rows: finish_list(plan, rows, repo.codec))


def reads(env: sc.Env) -> dict[str, Read]:
    """The hot-path scenarios' reads, by scenario name."""
    page1 = sc._params(("isActive", "true"), ("page", "1"), ("pageSize", str(sc.PAGE_SIZE)),
                       ("count", "none"))
    offset = [(env.org(i), page1) for i in range(len(env.orgs))]
    keyset = [(org, sc._params(("isActive", "true"), ("limit", str(sc.PAGE_SIZE)),
                               ("cursor", cursor))) for org, cursor, _, _ in env.keyset]
    plain, rls = sc.list_keyset(env)
    return {
        "get_by_id": _get(env, sc.get_by_id(env), env.users),
        "get_by_id_rls": _get(env, sc.get_by_id_rls(env), env.app_users),
        "list_offset_page1": _list(sc.list_offset(env, "list_offset_page1", 1, ""),
                                   env.users, offset),
        "list_offset_page1_rls": _list(sc.list_offset_rls(env), env.app_users, offset),
        "list_keyset": _list(plain, env.users, keyset),
        "list_keyset_rls": _list(rls, env.app_users, keyset),
    }


async def measure(name: str, ops: dict[str, Op], count: int, rounds: int) -> None:
    """Print the steps' medians, each with what it adds to the step before it."""
    for op in ops.values():
        for i in range(WARM_UP):
            await op(i)
    cpu: dict[str, list[float]] = {step: [] for step in ops}
    wall: dict[str, list[float]] = {step: [] for step in ops}
    order = list(ops)
    for r in range(rounds):
        random.shuffle(order)
        for step in order:
            op = ops[step]
            cpu_began, wall_began = time.process_time(), time.perf_counter()
            for i in range(r * count, (r + 1) * count):
                await op(i)
            cpu[step].append((time.process_time() - cpu_began) / count * 1e6)
            wall[step].append((time.perf_counter() - wall_began) / count * 1e6)
    print(f"{name}: median of {rounds} rounds of {count} reads, microseconds per read")
    print(f"  {'step':18s} {'CPU':>7s} {'+CPU':>7s} {'wall':>7s} {'+wall':>7s}")
    last_cpu = last_wall = None
    for step in ops:
        c, w = statistics.median(cpu[step]), statistics.median(wall[step])
        more_cpu = "" if last_cpu is None else f"{c - last_cpu:+7.1f}"
        more_wall = "" if last_wall is None else f"{w - last_wall:+7.1f}"
        print(f"  {step:18s} {c:7.1f} {more_cpu:>7s} {w:7.1f} {more_wall:>7s}")
        last_cpu, last_wall = c, w


EXTRA_READS = 1_000


def _collected(profile: Profile, scenario: str, step: str, count: int) -> int:
    """Instructions callgrind counts over a whole process that runs `count` reads of a step."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
               "-m", "bench.read_steps", "--size", profile.name, "--database", profile.database,
               "--only", scenario, "--step", step, "--reads", str(count)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind failed for {scenario}/{step}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def count_instructions(profile: Profile, scenarios: list[str], count: int) -> None:
    """Print instructions per read of every step of each scenario (two processes at a time:
    the short and the long run of a step)."""
    if shutil.which("valgrind") is None:
        sys.exit("read_steps: --instructions needs valgrind (apt-get install valgrind)")
    with ThreadPoolExecutor(max_workers=2) as workers:
        for scenario in scenarios:
            print(f"{scenario}: instructions per read (thousands), this process only")
            raw = last = None
            for step in STEPS:
                short = workers.submit(_collected, profile, scenario, step, count)
                long = workers.submit(_collected, profile, scenario, step,
                                      count + EXTRA_READS)
                per_read = (long.result() - short.result()) / EXTRA_READS / 1000
                raw = per_read if raw is None else raw
                more = "" if last is None else f"{per_read - last:+7.1f}"
                print(f"  {step:18s} {per_read:7.1f} {more:>7s}   {per_read / raw:5.2f}x raw",
                      flush=True)
                last = per_read


async def run_one(op: Op, count: int) -> None:
    """Warm up, then `count` reads of one step and nothing else: what an instruction count
    of the whole process is taken over (see `count_instructions`)."""
    for i in range(WARM_UP):
        await op(i)
    for i in range(count):
        await op(i)


async def run(profile: Profile, count: int, rounds: int, only: list[str] | None,
              step: str | None) -> None:
    admin_url, redis_url, embedded = servers()
    try:
        url = ensure_database(admin_url, profile.database)
        await build(url, profile, show_progress=False)
        env = await sc.open_env(url, redis_url, profile)
    except BaseException:
        if embedded is not None:
            embedded.stop_started()
        raise
    try:
        for name, read in reads(env).items():
            if only is None or name in only:
                if step is None:
                    await measure(name, _steps(env, read), count, rounds)
                else:
                    await run_one(_steps(env, read)[step], count)
    finally:
        await sc.cleanup(env)
        await env.aclose()
        if embedded is not None:
            embedded.stop_started()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=400, help="reads per step per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--size", choices=sorted(PROFILES), default="full",
                        help="the bench profile whose data set to read (built when missing)")
    parser.add_argument("--database", help="database name (default: the profile's)")
    parser.add_argument("--step", help="run only this step, `--reads` times, no timing")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per read under callgrind instead of timing")
    args = parser.parse_args(argv)
    profile = PROFILES[args.size].with_overrides(database=args.database)
    if args.instructions:
        chosen = args.only.split(",") if args.only else COUNTABLE
        if not set(chosen) <= set(COUNTABLE):
            parser.error(f"--instructions counts only {', '.join(COUNTABLE)}: a pipelined "
                         "read's count depends on when its results arrive")
        count_instructions(profile, chosen, args.reads)
        return
    asyncio.run(run(profile, args.reads, args.rounds,
                    args.only.split(",") if args.only else None, args.step))


if __name__ == "__main__":
    main()
