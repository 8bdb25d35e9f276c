"""`python -m bench`: build the data set, run every scenario, write the results.

    python -m bench                     the full run (1,000,000 users; `make bench`)
    python -m bench --quick             the CI smoke run (`make bench-quick`)
    python -m bench --only get_by_id,list_keyset --skip-http
    python -m bench --hot-paths         profile pgkeel's get and list with pyinstrument
    python -m bench --soak 600          10 minutes of mixed load: RSS, pool waits, p99/minute

Servers: DATABASE_URL / REDIS_URL, else pgkeel's embedded PostgreSQL and Valkey. The data set
goes to a database of its own on that server (`pgkeel_bench`, `pgkeel_bench_quick`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.config import PROFILES, Profile
from bench.dataset import build, ensure_database, servers
from bench.http_load import HTTP_SCENARIOS, load_generator, run_http
from bench.report import machine_info, markdown, ratios, timestamp, validate, versions
from bench.timing import Sample, run_scenario, summarize

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0]
                                     if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="the quick (CI) profile")
    parser.add_argument("--size", choices=sorted(PROFILES), help="a named profile")
    parser.add_argument("--database", help="database name (default: the profile's)")
    parser.add_argument("--orgs", type=int, dest="organizations")
    parser.add_argument("--users", type=int)
    parser.add_argument("--audit-rows", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--http-seconds", type=float)
    parser.add_argument("--http-rounds", type=int)
    parser.add_argument("--concurrency", type=int, dest="http_concurrency")
    parser.add_argument("--outbox-events", type=int,
                        help="events drained in outbox_relay (default: the profile's)")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data set")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--hot-paths", action="store_true",
                        help="profile pgkeel get/list (pyinstrument) instead of benchmarking")
    parser.add_argument("--out", type=Path, default=None, help="results directory")
    parser.add_argument("--readme", action=argparse.BooleanOptionalAction, default=None,
                        help="append the table to bench/README.md (default: full profile)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--soak", type=float, metavar="SECONDS",
                        help="mixed load against the reference service for SECONDS instead "
                             "(RSS over time, pool waits, p99 per minute, answers by status)")
    return parser.parse_args(argv)


def _profile(args: argparse.Namespace) -> Profile:
    name = args.size or ("quick" if args.quick else "full")
    return PROFILES[name].with_overrides(
        database=args.database, organizations=args.organizations, users=args.users,
        audit_rows=args.audit_rows, rounds=args.rounds, http_seconds=args.http_seconds,
        http_rounds=args.http_rounds, http_concurrency=args.http_concurrency,
        outbox_events=args.outbox_events)


async def _server_versions(url: str, redis_url: str) -> dict[str, str]:
    import redis.asyncio as aioredis

    from pgkeel.db import Database

    async with Database(url, min_size=1, max_size=1) as db:
        pg = str(await db.fetch_val("SHOW server_version", readonly=True))
    client = aioredis.Redis.from_url(redis_url)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return {"postgresql": pg.split(maxsplit=1)[0],
            "redis_server": str(info.get("redis_version", info.get("valkey_version", "?")))}


async def run(args: argparse.Namespace) -> dict[str, Any] | None:
    from bench import scenarios as sc
    from bench.dealership import run_dealership
    from bench.idempotency import IDEMPOTENCY_SCENARIOS, idempotency_scenario
    from bench.outbox import run_outbox
    from bench.place_order import run_place_order
    from bench.school_metrics import run_school

    began = time.perf_counter()
    profile = _profile(args)
    admin_url, redis_url, embedded = servers()
    try:
        url = ensure_database(admin_url, profile.database)
        print(f"data set: {profile.database} {profile.sizes()}")
        built = await build(url, profile, show_progress=not args.no_progress,
                            force=args.rebuild)
        print(f"  {'built' if built.built else 'already there'} in {built.seconds:.1f} s")
        if args.build_only:
            return None
        if args.hot_paths:
            from bench.hot_paths import profile_hot_paths

            await profile_hot_paths(url, redis_url, profile, RESULTS)
            return None
        only = set(args.only.split(",")) if args.only else None
        sc.check_same_sql()
        samples: list[Sample] = []
        env = await sc.open_env(url, redis_url, profile)
        try:
            sc.check_same_params(env)
            cache_keys = min(len(env.ids), 500)
            await sc.prefill_cache(env, cache_keys)
            for scenario in sc.build_scenarios(env, cache_keys=cache_keys):
                if only is not None and scenario.name not in only:
                    continue
                samples += await run_scenario(scenario, rounds=profile.rounds,
                                              block_s=profile.block_s,
                                              min_ops=profile.min_ops,
                                              max_ops=profile.max_ops)
            user_ids = await _http_user_ids(env)
        finally:
            await sc.cleanup(env)
            await env.aclose()
        if only is None or only & set(IDEMPOTENCY_SCENARIOS):
            async with idempotency_scenario(url, redis_url) as scenario:
                samples += await run_scenario(scenario, rounds=profile.rounds,
                                              block_s=profile.block_s, min_ops=profile.min_ops,
                                              max_ops=profile.max_ops)
        samples += await run_outbox(admin_url, redis_url, profile, only)
        samples += await run_school(admin_url, profile, only)
        if not args.skip_http and (only is None or only & set(HTTP_SCENARIOS)):
            print("HTTP (separate processes):")
            samples += await run_http(url, redis_url, profile, user_ids)
        if not args.skip_http:
            samples += await run_place_order(admin_url, redis_url, profile, only)
        samples += await run_dealership(admin_url, redis_url, profile, only,
                                        skip_http=args.skip_http)
        results = [summarize(s) for s in samples]
        report = {
            "machine": machine_info(profile, sizes=profile.sizes(),
                                    seconds=time.perf_counter() - began,
                                    load_generator="" if args.skip_http else load_generator()),
            "versions": versions(await _server_versions(url, redis_url)),
            "results": results,
            "ratios": ratios(results),
        }
        validate(report)
        return report
    finally:
        if embedded is not None:
            embedded.stop_started()


async def _http_user_ids(env: Any) -> list[str]:
    rows = await env.db.fetch_all(
        "SELECT u.id FROM identity.users u JOIN identity.organizations o"
        " ON o.id = u.organization_id WHERE o.slug = %s AND u.deleted_at IS NULL"
        " AND u.email NOT LIKE %s ORDER BY md5(u.id::text) LIMIT 500",
        ("org-1", "bench-%"), readonly=True)
    return [str(r["id"]) for r in rows]


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.soak is not None:
        from bench.soak import run_soak

        return asyncio.run(run_soak(args.soak, args.http_concurrency or 16,
                                    args.out or RESULTS))
    profile = _profile(args)
    report = asyncio.run(run(args))
    if report is None:
        return 0
    out = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stamp = timestamp()
    name = stamp if profile.name == "full" else f"{profile.name}-{stamp}"
    path = out / f"{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report, title=f"{stamp} ({profile.name})")
    print()
    print(table)
    print(f"results: {path}  ({report['machine']['run_seconds']} s)")
    if args.readme if args.readme is not None else profile.name == "full":
        with README.open("a") as readme:
            readme.write("\n" + table)
        print(f"table appended to {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
