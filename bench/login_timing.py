"""Failed logins: does the answer's timing tell an attacker whether an account exists?

`python -m bench.login_timing [--rounds N] [--ops N]` serves the reference service
in-process (its real lifespan, through httpx's ASGI transport) on a database of its own with
a small sample data set, and times four kinds of failed `POST /v1/auth/login`, interleaved
round by round so machine noise hits them alike:

- `wrong_password`: a real account with a password, the wrong password;
- `unknown_email`: an organization that exists, an email that does not;
- `no_password`: an account that exists but has no password set (invited, SSO);
- `unknown_org`: an organization that does not exist.

Every one must answer the same 401 body (checked on every request, request id aside).

Each round makes one attempt of every kind (`--ops` of each), in a random order, back to back,
so the four share whatever the machine was doing at that moment: on a machine shared with
other work the load drifts by far more than the effect sought, over seconds, and blocks of one
kind at a time turn that drift into false differences. The report gives each kind's median,
and its difference from `wrong_password` as the median of the per-round paired differences,
with a bootstrap 95 % interval that resamples whole rounds: "equal within noise" means the
interval contains 0. The rate limits and the lockout are raised for the run (they would
otherwise answer 429 after a few attempts, which is their job, not what is measured here).
Results go to bench/results/login-timing-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.dataset import drop_redis_prefix, ensure_database, servers
from pgkeel.config import load_settings

__all__ = ["KINDS", "login_timing", "main", "paired_interval"]

DATABASE = "pgkeel_bench_login"
RESULTS = Path(__file__).parent / "results"
PASSWORD = "pgkeel-demo"
KINDS = ("wrong_password", "unknown_email", "no_password", "unknown_org")
NO_LIMITS = {
    "LOGIN_IP_LIMIT": "100000000", "LOGIN_ACCOUNT_LIMIT": "100000000",
    "LOGIN_LOCKOUT_THRESHOLD": "100000000",
    "DEMO_SEED": "true", "DEMO_ORGS": "2", "DEMO_USERS": "200", "DEMO_PASSWORD": PASSWORD,
    "DEMO_ROLES": "false", "MAINTAIN_IN_SERVICE": "false",
}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@asynccontextmanager
async def _service(url: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    from pgkeel_apps.main import create_app

    settings = load_settings().model_copy(update={
        "database_url": url, "redis_url": redis_url, "migration_database_url": None,
        "cache_prefix": f"pgkeel-login-timing-{os.getpid()}:"})
    with _environment(NO_LIMITS):
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                yield client
    # The run's rate-limit and cache keys (they expire anyway; a shared Redis stays tidy).
    await drop_redis_prefix(redis_url, settings.cache_prefix)


async def _passwordless_email(url: str) -> str:
    """An existing account of org-1 without a password (the sample data has many)."""
    from pgkeel.db import Database

    async with Database(url, min_size=1, max_size=1) as db:
        email = await db.fetch_val(
            "SELECT u.email FROM identity.users u JOIN identity.organizations o"
            " ON o.id = u.organization_id WHERE o.slug = 'org-1'"
            " AND u.password_hash IS NULL AND u.deleted_at IS NULL ORDER BY u.email LIMIT 1",
            readonly=True)
    if email is None:
        raise RuntimeError("the sample data has no account without a password")
    return str(email)


Attempt = Callable[[int], Awaitable[object]]


class _Unavailable(Exception):
    """A 503 (the shared database or Redis briefly out of reach): that round is dropped."""


def _attempts(client: httpx.AsyncClient, passwordless: str
              ) -> tuple[dict[str, Attempt], set[bytes]]:
    """One failed login of each kind, by name; every answer's body (request id removed) is
    collected."""
    bodies: set[bytes] = set()

    def attempt(organization: str, email: Any, password: str) -> Attempt:
        async def op(i: int) -> object:
            response = await client.post("/v1/auth/login", json={
                "organization": organization, "email": email(i) if callable(email) else email,
                "password": password})
            if response.status_code == 503:
                raise _Unavailable(response.text[:200])
            if response.status_code != 401:
                raise RuntimeError(f"expected 401, got {response.status_code}: "
                                   f"{response.text[:200]}")
            body = response.json()
            body.pop("request_id", None)
            if isinstance(body.get("details"), dict):
                body["details"].pop("request_id", None)
            bodies.add(json.dumps(body, sort_keys=True).encode())
            return response
        return op

    wrong = f"not-{PASSWORD}-at-all"
    attempts = {
        "wrong_password": attempt("org-1", "admin@org-1.example", wrong),
        "unknown_email": attempt("org-1", lambda i: f"nobody-{i}@org-1.example", wrong),
        "no_password": attempt("org-1", passwordless, wrong),
        "unknown_org": attempt("org-does-not-exist", "admin@org-1.example", wrong),
    }
    return attempts, bodies


async def _rounds(attempts: dict[str, Attempt], *, rounds: int, ops: int, seed: int = 11,
                  log: Any = print) -> dict[str, list[list[int]]]:
    """Per kind, per round, the durations (ns) of its `ops` attempts. Each round runs every
    kind's attempts in a shuffled order; garbage is collected between rounds, untimed. A
    round with a 503 in it is dropped whole (its pairs would be incomplete)."""
    rng = random.Random(seed)
    for op in attempts.values():  # warm-up: pools, prepared statements, the dummy hash
        for i in range(3):
            await op(10_000_000 + i)
    timed: dict[str, list[list[int]]] = {kind: [] for kind in attempts}
    for r in range(rounds):
        plan = [kind for kind in attempts for _ in range(ops)]
        rng.shuffle(plan)
        gc.collect()
        this_round: dict[str, list[int]] = {kind: [] for kind in attempts}
        try:
            for n, kind in enumerate(plan):
                began = time.perf_counter_ns()
                await attempts[kind](r * len(plan) + n)
                this_round[kind].append(time.perf_counter_ns() - began)
        except _Unavailable as exc:
            log(f"  round {r + 1} dropped: 503 {exc}")
            await asyncio.sleep(2)
            continue
        for kind, durations in this_round.items():
            timed[kind].append(durations)
        if (r + 1) % 25 == 0:
            log(f"  {r + 1}/{rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    return timed


def paired_interval(diffs_ns: list[float], *, resamples: int = 4000, seed: int = 7
                    ) -> tuple[float, float, float]:
    """(median, low, high) in ms of per-round paired differences, with a bootstrap 95 %
    interval that resamples rounds."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(diffs_ns, k=len(diffs_ns)))
                     for _ in range(resamples))
    return (statistics.median(diffs_ns) / 1e6, medians[int(0.025 * resamples)] / 1e6,
            medians[int(0.975 * resamples) - 1] / 1e6)


def _report(timed: dict[str, list[list[int]]], bodies: set[bytes], seconds: float,
            loadavg: dict[str, list[float]]) -> dict[str, Any]:
    per_round = {kind: [statistics.median(r) for r in rounds] for kind, rounds in timed.items()}
    base = per_round["wrong_password"]
    kinds = []
    for kind in KINDS:
        durations = [d for r in timed[kind] for d in r]
        diffs = [mine - theirs for mine, theirs in zip(per_round[kind], base, strict=True)]
        diff, low, high = paired_interval(diffs)
        kinds.append({"kind": kind, "n": len(durations),
                      "median_ms": round(statistics.median(durations) / 1e6, 3),
                      "diff_vs_wrong_password_ms": round(diff, 3),
                      "ci95_ms": [round(low, 3), round(high, 3)],
                      "within_noise": low <= 0 <= high})
    return {"scenario": "login_failure_timing",
            "design": "paired rounds: every kind in each round, shuffled; diff = median of "
                      "per-round differences, interval = bootstrap over rounds",
            "rounds": len(base), "seconds": round(seconds, 1), "cpus": os.cpu_count(),
            "loadavg": loadavg, "identical_bodies": len(bodies) == 1, "kinds": kinds}


async def login_timing(admin_url: str, redis_url: str, *, rounds: int, ops: int,
                       log: Any = print) -> dict[str, Any]:
    """Run the measurement on `admin_url`'s server (a database of its own) and return the
    report."""
    began = time.perf_counter()
    url = ensure_database(admin_url, DATABASE)
    async with _service(url, redis_url) as client:
        attempts, bodies = _attempts(client, await _passwordless_email(url))
        load_before = list(os.getloadavg())
        timed = await _rounds(attempts, rounds=rounds, ops=ops, log=log)
        load_after = list(os.getloadavg())
    log(f"  {rounds} rounds x {ops} attempt(s) per kind; load average before "
        f"{load_before[0]:.1f}, after {load_after[0]:.1f}")
    return _report(timed, bodies, time.perf_counter() - began,
                   {"before": load_before, "after": load_after})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.login_timing",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--ops", type=int, default=1, help="attempts per kind per round")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    admin_url, redis_url, servers_started = servers()
    try:
        report = asyncio.run(login_timing(admin_url, redis_url, rounds=args.rounds,
                                          ops=args.ops))
    finally:
        if servers_started is not None:
            servers_started.stop_started()
    print(f"identical 401 bodies: {report['identical_bodies']}")
    print(f"{'kind':<16}{'n':>6}{'median ms':>11}{'diff ms':>10}  95 % interval   equal?")
    for row in report["kinds"]:
        low, high = row["ci95_ms"]
        print(f"{row['kind']:<16}{row['n']:>6}{row['median_ms']:>11.3f}"
              f"{row['diff_vs_wrong_password_ms']:>10.3f}  [{low:.3f}, {high:.3f}]"
              f"  {'yes' if row['within_noise'] else 'NO'}")
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"login-timing-{time.strftime('%Y%m%dT%H%M%S')}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"saved {path}")
    return 0 if report["identical_bodies"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
