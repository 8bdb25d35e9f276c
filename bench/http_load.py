"""HTTP scenarios: the pgkeel reference service, the FastAPI + SQLAlchemy + fastapi-pagination
app (with fastapi-cache2 on Redis where the scenario caches), and the hand-written minimal
psycopg app on Starlette and on a bare FastAPI app, each a real uvicorn process (one worker,
uvloop + httptools, no access log -- the same for all), loaded in interleaved rounds at equal
concurrency by wrk in a process of its own (C, so the generator takes little of the 2 cores
the servers share), or by `bench.loadgen` where wrk is not installed. Peak RSS per server is
the kernel's high-water mark (VmHWM)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import orjson
import psutil

from bench.config import Profile
from bench.timing import Sample

__all__ = ["HTTP_SCENARIOS", "load_generator", "run_http"]

ROOT = Path(__file__).resolve().parent.parent
HTTP_SCENARIOS = {
    "http_list_users": "GET /v1/users?page=1&pageSize=20 under concurrent load (auth, "
                       "page of 20, total).",
    "http_get_user": "GET /v1/users/{id} under concurrent load (auth, one user with roles), "
                     "every service reading the database.",
    "http_get_user_cached": "GET /v1/users/{id} with the user cached in Redis by both "
                            "services.",
}
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_paths.lua"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    module: str
    env: dict[str, str]
    factory: bool = False
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Closed (and removed) by stop(); a file, so a chatty server never blocks on a pipe.
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix=f"bench-{self.name}-", suffix=".log", delete=False)
        command = [sys.executable, "-m", "uvicorn", self.module, "--host", "127.0.0.1",
                   "--port", str(self.port), "--no-access-log", "--log-level", "warning"]
        if self.factory:
            command.append("--factory")
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **self.env},
                                        stdout=self.log, stderr=subprocess.STDOUT)

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start-up:\n{self.output()}")
                try:
                    async with session.get(f"{self.base}/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.output()}")

    def peak_rss_mb(self) -> float | None:
        """The process's peak resident set (VmHWM), or its current RSS where that is
        unavailable."""
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        try:
            return float(psutil.Process(self.process.pid).memory_info().rss) / 2**20
        except psutil.Error:
            return None

    def output(self) -> str:
        if self.log is None:
            return ""
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.log is not None:
            self.log.close()
            Path(self.log.name).unlink(missing_ok=True)
            self.log = None


@dataclass(frozen=True)
class Service:
    """One server process of the HTTP bench, and the contender it stands for."""

    contender: str
    module: str
    factory: bool = False
    env: tuple[tuple[str, str], ...] = ()


def _services(url: str, redis_url: str) -> dict[str, Service]:
    alchemy = (("BENCH_DATABASE_URL", url.replace("postgresql://", "postgresql+asyncpg://", 1)),
               ("BENCH_POOL_SIZE", "10"))
    pgkeel = (("DATABASE_URL", url), ("REDIS_URL", redis_url), ("DEMO_SEED", "false"),
              ("DB_POOL_MAX_SIZE", "10"))
    return {
        "pgkeel": Service("pgkeel", "pgkeel_apps.main:create_app", factory=True, env=pgkeel),
        "pgkeel_uncached": Service("pgkeel", "pgkeel_apps.main:create_app", factory=True,
                                   env=(*pgkeel, ("USER_CACHE", "false"))),
        "fastapi_sqlalchemy": Service("fastapi_sqlalchemy", "bench.fastapi_app:app",
                                      env=alchemy),
        "fastapi_sqlalchemy_cached": Service("fastapi_sqlalchemy", "bench.fastapi_app:app",
                                             env=(*alchemy, ("BENCH_CACHE_URL", redis_url))),
        "minimal_starlette": Service("minimal_starlette", "bench.minimal_app:app", env=(
            ("BENCH_DATABASE_URL", url), ("BENCH_POOL_SIZE", "10"))),
        "minimal_fastapi": Service("minimal_fastapi", "bench.minimal_app:fastapi_app", env=(
            ("BENCH_DATABASE_URL", url), ("BENCH_POOL_SIZE", "10"))),
    }


GROUPS: dict[str, tuple[str, ...]] = {
    "http_list_users": ("pgkeel", "fastapi_sqlalchemy", "minimal_starlette", "minimal_fastapi"),
    "http_get_user": ("pgkeel_uncached", "fastapi_sqlalchemy", "minimal_starlette",
                      "minimal_fastapi"),
    "http_get_user_cached": ("pgkeel", "fastapi_sqlalchemy_cached"),
}
"""The services each HTTP scenario loads: the list (cached by nobody); one user with every
service reading the database; one user with both services caching it in Redis."""


async def _login(base: str, organization: str) -> str:
    async with aiohttp.ClientSession() as session, session.post(
            f"{base}/v1/auth/login", json={"organization": organization,
                                            "email": f"admin@{organization}.example",
                                            "password": "pgkeel-demo"}) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"login failed: {response.status} {body}")
        return str(body["token"])


async def _fetch(base: str, path: str, token: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(
            f"{base}{path}", headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status != 200:
            raise RuntimeError(f"{base}{path}: {response.status} {await response.text()}")
        return await response.json()


async def _same_answers(servers: list[Server], scenario: str, paths: list[str],
                        token: str) -> None:
    """Every service must serve the same data for the same URL (a harness check)."""
    bodies = [await _fetch(s.base, paths[0], token) for s in servers]
    if scenario == "http_list_users":
        seen = {(tuple(item["id"] for item in b["items"]), b["total"]) for b in bodies}
    else:
        seen = {(b["id"], orjson.dumps(b["roles"])) for b in bodies}
    if len(seen) != 1:
        raise RuntimeError(f"the services disagree on {paths[0]}: {bodies}")


def load_generator() -> str:
    """What drives the HTTP runs: wrk where installed, else the Python generator."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return "bench.loadgen (aiohttp): wrk is not installed"
    found = subprocess.run([wrk, "--version"], capture_output=True, check=False, text=True)
    words = (found.stdout + found.stderr).split()
    return f"wrk {words[1] if len(words) > 1 else ''}".strip()


def _wrk(base: str, token: str, paths_file: Path, profile: Profile,
         seconds: float) -> dict[str, Any]:
    """One wrk run (2 threads, the profile's connections); its Lua script rotates the paths
    and prints the counts and 100 latency quantiles as JSON."""
    command = ["wrk", "-t", str(min(2, profile.http_concurrency)), "-c",
               str(profile.http_concurrency), "-d", f"{max(1, round(seconds))}s",
               "--timeout", "30s", "-H", f"Authorization: Bearer {token}",
               "-s", str(WRK_SCRIPT), base]
    completed = subprocess.run(command, capture_output=True, check=False, text=True,
                               timeout=seconds + 120,
                               env={**os.environ, "BENCH_PATHS": str(paths_file)})
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCHJSON ")),
                None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {completed.stdout[-1000:]} {completed.stderr[-1000:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("BENCHJSON "))
    return result


def _loadgen(base: str, token: str, paths_file: Path, profile: Profile) -> dict[str, Any]:
    """One measured run: {count, errors, duration_s, latencies_ms}. With wrk, an untimed
    warm-up run first, and the latencies are its 100 quantiles, each standing for a hundredth
    of the requests."""
    if shutil.which("wrk") is not None:
        if profile.http_warmup_s > 0:
            _wrk(base, token, paths_file, profile, profile.http_warmup_s)
        run = _wrk(base, token, paths_file, profile, profile.http_seconds)
        share = max(1, round(run["requests"] / 100))
        return {"count": run["requests"] - run["errors"], "errors": run["errors"],
                "duration_s": run["duration_us"] / 1e6,
                "latencies_ms": [q / 1000 for q in run["quantiles_us"] for _ in range(share)]}
    completed = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--base", base, "--token", token,
         "--paths-file", str(paths_file), "--concurrency", str(profile.http_concurrency),
         "--duration", str(profile.http_seconds), "--warmup", str(profile.http_warmup_s)],
        cwd=ROOT, capture_output=True, check=False, timeout=profile.http_seconds + 120)
    if completed.returncode != 0:
        raise RuntimeError(f"loadgen failed: {completed.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


async def _start(services: list[tuple[str, Service]]) -> list[Server]:
    """Start the services at once (two reference services' migrations take turns on their
    advisory lock) and wait until each answers."""
    servers = [Server(name, service.module, dict(service.env), factory=service.factory)
               for name, service in services]
    try:
        for server in servers:
            server.start()
        for server in servers:
            await server.wait_ready()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


async def run_http(url: str, redis_url: str, profile: Profile, user_ids: list[str],
                   log: Callable[[str], None] = print) -> list[Sample]:
    """Per scenario: start the services it needs that are not running yet, check they answer
    alike, run the interleaved load rounds, and stop those no later scenario needs; one Sample
    per (scenario, contender)."""
    services = _services(url, redis_url)
    order = list(HTTP_SCENARIOS)
    last_use = {name: i for i, scenario in enumerate(order) for name in GROUPS[scenario]}
    samples: list[Sample] = []
    log(f"  load generator: {load_generator()}")
    alive: dict[str, Server] = {}
    with tempfile.TemporaryDirectory(prefix="pgkeel-bench-") as scratch:
        try:
            token = ""
            for i, scenario in enumerate(order):
                group = [(name, services[name]) for name in GROUPS[scenario]]
                started = await _start([(n, s) for n, s in group if n not in alive])
                alive.update((server.name, server) for server in started)
                servers = [alive[name] for name, _ in group]
                paths = (["/v1/users?page=1&pageSize=20"] if scenario == "http_list_users"
                         else [f"/v1/users/{uid}" for uid in user_ids])
                paths_file = Path(scratch, f"{scenario}.txt")
                _write_lines(paths_file, paths)
                token = token or await _login(servers[0].base, "org-1")
                await _same_answers(servers, scenario, paths, token)
                samples += await _rounds(scenario, servers, group, token, paths_file,
                                         profile, log)
                for name in [n for n in alive if last_use[n] == i]:
                    alive.pop(name).stop()
        finally:
            for server in alive.values():
                server.stop()
    return samples


async def _rounds(scenario: str, servers: list[Server], group: list[tuple[str, Service]],
                  token: str, paths_file: Path, profile: Profile,
                  log: Callable[[str], None]) -> list[Sample]:
    contender = {name: service.contender for name, service in group}
    samples = {s.name: Sample(scenario, contender[s.name]) for s in servers}
    errors = dict.fromkeys(samples, 0)
    for r in range(profile.http_rounds):
        order = servers[r % len(servers):] + servers[:r % len(servers)]
        for server in order:
            result = await asyncio.to_thread(_loadgen, server.base, token, paths_file,
                                             profile)
            sample = samples[server.name]
            sample.durations_ns += [int(ms * 1e6) for ms in result["latencies_ms"]]
            sample.wall_s += result["duration_s"]
            sample.ops_override = (sample.ops_override or 0) + result["count"]
            errors[server.name] += int(result["errors"])
    for server in servers:
        sample = samples[server.name]
        sample.peak_rss_mb = server.peak_rss_mb()
        per_s = (sample.ops_override or 0) / sample.wall_s if sample.wall_s else 0
        log(f"  {scenario} {server.name}: {per_s:.0f} req/s, peak RSS "
            f"{sample.peak_rss_mb or 0:.0f} MB, errors {errors[server.name]}")
    failed = {k: v for k, v in errors.items() if v}
    if failed:
        raise RuntimeError(f"non-200 answers under load in {scenario}: {failed}")
    return list(samples.values())
