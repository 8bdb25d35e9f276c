"""`python -m bench.http_cpu`: CPU per request of the reference service and of the minimal app
(on Starlette, and on a bare FastAPI app), each driven in-process as an ASGI app (no HTTP
server, no load generator).

Under wrk both servers share two cores with PostgreSQL and wrk itself, so their req/s move
with the machine; the CPU one request costs the app's own process is steadier, and it is what
sets a single-process server's ceiling. Both apps serve the same two reads to the same bearer
token against the bench data set (`python -m bench --build-only`): `GET /v1/users/{id}` (the
reference service with `USER_CACHE=false`, as in `http_get_user`) and `GET /v1/users?page=1&
pageSize=20`. A fourth contender, `pgkeel_no_middleware`, is the reference service with its
middleware stack removed (request id, metrics, security headers, request limits): the
difference to `pgkeel` is what that stack costs a request. Rounds are interleaved; for each
contender the median and the minimum of the rounds' means are printed, with each minimal app's
CPU ÷ the reference service's (the fraction of its throughput a CPU-bound server would
reach). On a host whose speed drifts, many short rounds and the minimum tell two contenders
apart better than the median: other work only ever adds CPU time to a round.

    python -m bench.http_cpu [--requests 2000] [--rounds 3] [--profile DIR]
    python -m bench.http_cpu --requests 400 --rounds 12      # short rounds: read the minimum

`--profile DIR` also writes a cProfile of one round of each (CPU time) to DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench.config import PROFILES
from bench.dataset import servers
from pgkeel.testing.databases import database_url

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]],
                    Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]
LIST_PATH = "/v1/users?page=1&pageSize=20"


def _scope(path: str, token: str, method: str = "GET") -> dict[str, Any]:
    route, _, query = path.partition("?")
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": route, "raw_path": route.encode(),
            "query_string": query.encode(), "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode()),
                        (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}


async def _call(app: ASGIApp, scope: dict[str, Any], body: bytes = b"") -> tuple[int, bytes]:
    """One request through the app: (status, body)."""
    status, chunks, sent = 0, [], False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()        # no disconnect while the app answers
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


@contextlib.asynccontextmanager
async def _running(app: Any) -> AsyncIterator[dict[str, Any]]:
    """The app's lifespan; yields the state each request's scope starts from."""
    async with app.router.lifespan_context(app) as state:
        yield dict(state or {})


async def _token(app: Any, state: dict[str, Any]) -> str:
    scope = {**_scope("/v1/auth/login", "", "POST"), "state": dict(state)}
    status, body = await _call(app, scope, orjson.dumps({
        "organization": "org-1", "email": "admin@org-1.example", "password": "pgkeel-demo"}))
    if status != 200:
        raise RuntimeError(f"login failed: {status} {body[:300]!r}")
    return str(orjson.loads(body)["token"])


async def _cpu_us(app: Any, state: dict[str, Any], paths: list[str], token: str, count: int,
                  profile: Path | None = None) -> float:
    """Mean CPU microseconds per request over `count` requests (after a checked warm-up)."""
    for i in range(100):
        status, body = await _call(app, {**_scope(paths[i % len(paths)], token),
                                         "state": dict(state)})
        if status != 200:
            raise RuntimeError(f"{paths[i % len(paths)]}: {status} {body[:300]!r}")
    profiler = cProfile.Profile(time.process_time) if profile else None
    if profiler:
        profiler.enable()
    began = time.process_time()
    for i in range(count):
        await _call(app, {**_scope(paths[i % len(paths)], token), "state": dict(state)})
    spent = time.process_time() - began
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    return spent / count * 1e6


async def run(url: str, requests: int, rounds: int, profile_dir: Path | None) -> None:
    os.environ.update({"DATABASE_URL": url, "BENCH_DATABASE_URL": url, "DEMO_SEED": "false",
                       "USER_CACHE": "false", "DB_POOL_MAX_SIZE": "10"})
    from bench import minimal_app
    from pgkeel_apps.main import create_app

    with psycopg.connect(url) as conn:
        ids = [row[0] for row in conn.execute(
            "SELECT u.id::text FROM identity.users u JOIN identity.organizations o"
            " ON o.id = u.organization_id WHERE o.slug = 'org-1' AND u.deleted_at IS NULL"
            " LIMIT 500")]
    reference = create_app()
    bare = create_app()
    bare.user_middleware = []   # read when the app first serves: the stack is built then
    apps = {"pgkeel": reference, "pgkeel_no_middleware": bare,
            "minimal_starlette": minimal_app.app, "minimal_fastapi": minimal_app.fastapi_app}
    results: dict[tuple[str, str], list[float]] = {}
    # The two minimal apps share one pool: the first lifespan opens it, the second finds it open.
    async with (_running(reference) as keel_state, _running(bare) as bare_state,
                _running(minimal_app.app) as min_state,
                _running(minimal_app.fastapi_app) as fastapi_state):
        states = {"pgkeel": keel_state, "pgkeel_no_middleware": bare_state,
                  "minimal_starlette": min_state, "minimal_fastapi": fastapi_state}
        token = await _token(reference, keel_state)
        reads = {"get_user": [f"/v1/users/{i}" for i in ids], "list_users": [LIST_PATH]}
        print(f"{requests} requests a round, {rounds} rounds; load average "
              f"{os.getloadavg()[0]:.1f}")
        for round_ in range(rounds):
            for read, paths in reads.items():
                for name, app in apps.items():
                    dump = (profile_dir / f"http_cpu_{read}_{name}.prof"
                            if profile_dir and round_ == 0 else None)
                    cpu = await _cpu_us(app, states[name], paths, token, requests, dump)
                    results.setdefault((read, name), []).append(cpu)
        print(f"load average {os.getloadavg()[0]:.1f}")
    for read in ("get_user", "list_users"):
        for name, pick in (("median", statistics.median), ("minimum", min)):
            spent = {app: pick(results[(read, app)]) for app in apps}
            keel = spent["pgkeel"]
            print(f"{read} ({name} of the rounds, us CPU/request): "
                  + ", ".join(f"{app} {value:.0f}" for app, value in spent.items())
                  + f"; minimal_starlette ÷ pgkeel {spent['minimal_starlette'] / keel:.2f}, "
                  f"minimal_fastapi ÷ pgkeel {spent['minimal_fastapi'] / keel:.2f}, "
                  f"middleware {keel - spent['pgkeel_no_middleware']:.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--database", default=PROFILES["full"].database)
    args = parser.parse_args()
    admin_url, redis_url, embedded = servers()
    os.environ["REDIS_URL"] = redis_url
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(run(database_url(admin_url, args.database), args.requests, args.rounds,
                        args.profile))
    finally:
        if embedded is not None:
            embedded.stop_started()


if __name__ == "__main__":
    main()
