"""Failed logins: does the answer's timing tell an attacker whether an account exists?

`python -m bench.login_timing [--rounds N] [--ops N]` serves the reference service
in-process (its real lifespan, through httpx's ASGI transport) on a database of its own with
a small sample data set, and times four kinds of failed `POST /v1/auth/login`, interleaved
round by round so machine noise hits them alike:

- `wrong_password`: a real account with a password, the wrong password;
- `unknown_email`: an organization that exists, an email that does not;
- `no_password`: an account that exists but has no password set (invited, SSO);
- `unknown_org`: an organization that does not exist.

Every one must answer the same 401 body (checked on every request, request id aside). The
report gives each kind's median and the difference of its median from `wrong_password`, with
a bootstrap 95 % interval: "equal within noise" means the interval contains 0. The rate limits
and the lockout are raised for the run (they would otherwise answer 429 after a few attempts,
which is their job, not what is measured here). Results go to bench/results/login-timing-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from redis import asyncio as aioredis

from bench.dataset import ensure_database, servers
from bench.timing import Contender, Sample, Scenario, run_scenario
from pgkeel.config import load_settings

__all__ = ["KINDS", "bootstrap_interval", "login_timing", "main"]

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
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async for key in redis.scan_iter(match=f"{settings.cache_prefix}*"):
            await redis.delete(key)
    finally:
        await redis.aclose()


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


def _scenario(client: httpx.AsyncClient, passwordless: str) -> tuple[Scenario, set[bytes]]:
    """The four kinds as contenders; every answer's body (request id removed) is collected."""
    bodies: set[bytes] = set()

    def attempt(organization: str, email: Any, password: str) -> Any:
        async def op(i: int) -> object:
            response = await client.post("/v1/auth/login", json={
                "organization": organization, "email": email(i) if callable(email) else email,
                "password": password})
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
    contenders = [
        Contender("wrong_password", attempt("org-1", "admin@org-1.example", wrong)),
        Contender("unknown_email", attempt("org-1", lambda i: f"nobody-{i}@org-1.example",
                                           wrong)),
        Contender("no_password", attempt("org-1", passwordless, wrong)),
        Contender("unknown_org", attempt("org-does-not-exist", "admin@org-1.example", wrong)),
    ]
    description = "failed POST /v1/auth/login, in-process (ASGI), one at a time, by kind"
    return Scenario("login_failure_timing", description, contenders), bodies


def bootstrap_interval(baseline: list[int], other: list[int], *, resamples: int = 2000,
                       seed: int = 7) -> tuple[float, float, float]:
    """(difference of medians, low, high) in ms: `other` minus `baseline`, with a bootstrap
    95 % interval from resampling both."""
    rng = random.Random(seed)
    diffs = []
    for _ in range(resamples):
        a = statistics.median(rng.choices(baseline, k=len(baseline)))
        b = statistics.median(rng.choices(other, k=len(other)))
        diffs.append((b - a) / 1e6)
    diffs.sort()
    point = (statistics.median(other) - statistics.median(baseline)) / 1e6
    return point, diffs[int(0.025 * resamples)], diffs[int(0.975 * resamples) - 1]


def _report(samples: list[Sample], bodies: set[bytes], seconds: float) -> dict[str, Any]:
    by_kind = {s.contender: s.durations_ns for s in samples}
    base = by_kind["wrong_password"]
    kinds = []
    for kind in KINDS:
        durations = by_kind[kind]
        diff, low, high = bootstrap_interval(base, durations)
        kinds.append({"kind": kind, "n": len(durations),
                      "median_ms": round(statistics.median(durations) / 1e6, 3),
                      "diff_vs_wrong_password_ms": round(diff, 3),
                      "ci95_ms": [round(low, 3), round(high, 3)],
                      "within_noise": low <= 0 <= high})
    return {"scenario": "login_failure_timing", "seconds": round(seconds, 1),
            "loadavg": os.getloadavg(), "identical_bodies": len(bodies) == 1,
            "kinds": kinds}


async def login_timing(admin_url: str, redis_url: str, *, rounds: int, ops: int,
                       log: Any = print) -> dict[str, Any]:
    """Run the measurement on `admin_url`'s server (a database of its own) and return the
    report."""
    began = time.perf_counter()
    url = ensure_database(admin_url, DATABASE)
    async with _service(url, redis_url) as client:
        scenario, bodies = _scenario(client, await _passwordless_email(url))
        samples = await run_scenario(scenario, rounds=rounds, block_s=60.0, min_ops=ops,
                                     max_ops=ops, log=log)
    return _report(samples, bodies, time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.login_timing",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--ops", type=int, default=30, help="attempts per kind per round")
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
