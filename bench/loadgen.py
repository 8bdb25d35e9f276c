"""A closed-loop HTTP load generator (aiohttp on uvloop), run as its own process so its CPU
is not the server's: `concurrency` workers each send the next request as soon as the previous
answer has been read, for `duration` seconds after `warmup` seconds. Prints one JSON object:

    {"count", "errors", "statuses", "duration_s", "latencies_ms": [...]}

The paths file has one path a line. `bench.http_load` drives the runs with wrk where it is
installed and falls back to this generator where it is not.

    python -m bench.loadgen --base http://127.0.0.1:8000 --token T \
        --paths-file paths.txt --concurrency 16 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["run"]


async def run(base: str, token: str, paths: list[str], *, concurrency: int, duration: float,
              warmup: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=connector, headers=headers,
                                     timeout=timeout) as session:
        started = time.perf_counter()
        measure_from = started + warmup
        deadline = measure_from + duration
        counter = 0

        async def worker(offset: int) -> None:
            nonlocal errors, counter
            while True:
                began = time.perf_counter()
                if began >= deadline:
                    return
                path = paths[(counter + offset) % len(paths)]
                counter += 1
                try:
                    async with session.get(path) as response:
                        await response.read()
                        code = response.status
                except (aiohttp.ClientError, TimeoutError):
                    code = 0
                ended = time.perf_counter()
                if began >= measure_from:
                    statuses[code] += 1
                    if code == 200:
                        latencies.append((ended - began) * 1000)
                    else:
                        errors += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        measured = time.perf_counter() - measure_from
    return {"count": len(latencies), "errors": errors,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "duration_s": measured, "latencies_ms": latencies}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--paths-file", required=True, type=Path)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    paths = [line for line in args.paths_file.read_text().splitlines() if line]
    try:
        import uvloop
        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover -- uvicorn[standard] brings uvloop
        runner = asyncio.run
    result = runner(run(args.base, args.token, paths, concurrency=args.concurrency,
                        duration=args.duration, warmup=args.warmup))
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
