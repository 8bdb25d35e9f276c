"""HTTP scenarios: the pgkeel reference service and the FastAPI + SQLAlchemy +
fastapi-pagination app, each a real uvicorn process (one worker, uvloop + httptools, no access
log -- the same for both), loaded in interleaved rounds by `bench.loadgen` in a third process
at equal concurrency. Peak RSS per server is the kernel's high-water mark (VmHWM)."""

from __future__ import annotations

import asyncio
import json
import os
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
import psutil

from bench.config import Profile
from bench.timing import Sample

__all__ = ["HTTP_SCENARIOS", "run_http"]

ROOT = Path(__file__).resolve().parent.parent
HTTP_SCENARIOS = {
    "http_list_users": "GET /v1/users?page=1&pageSize=20 under concurrent load (auth, "
                       "page of 20, total).",
    "http_get_user": "GET /v1/users/{id} under concurrent load (auth, one user with roles).",
}


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


def _servers(url: str, redis_url: str) -> list[Server]:
    return [
        Server("pgkeel", "pgkeel_apps.main:create_app", factory=True, env={
            "DATABASE_URL": url, "REDIS_URL": redis_url, "DEMO_SEED": "false",
            "DB_POOL_MAX_SIZE": "10"}),
        Server("fastapi_sqlalchemy", "bench.fastapi_app:app", env={
            "BENCH_DATABASE_URL": url.replace("postgresql://", "postgresql+asyncpg://", 1),
            "BENCH_POOL_SIZE": "10"}),
    ]


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


async def _same_answers(servers: list[Server], paths: dict[str, list[str]], token: str) -> None:
    """Both services must serve the same data for the same URL (a harness check)."""
    pages = [await _fetch(s.base, paths["http_list_users"][0], token) for s in servers]
    ids = [[item["id"] for item in page["items"]] for page in pages]
    if ids[0] != ids[1] or pages[0]["total"] != pages[1]["total"]:
        raise RuntimeError(f"the two services disagree on the list: {ids} "
                           f"{[p['total'] for p in pages]}")
    users = [await _fetch(s.base, paths["http_get_user"][0], token) for s in servers]
    if users[0]["id"] != users[1]["id"] or users[0]["roles"] != users[1]["roles"]:
        raise RuntimeError(f"the two services disagree on one user: {users}")


def _loadgen(base: str, token: str, paths_file: Path, profile: Profile) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--base", base, "--token", token,
         "--paths-file", str(paths_file), "--concurrency", str(profile.http_concurrency),
         "--duration", str(profile.http_seconds), "--warmup", str(profile.http_warmup_s)],
        cwd=ROOT, capture_output=True, check=False, timeout=profile.http_seconds + 120)
    if completed.returncode != 0:
        raise RuntimeError(f"loadgen failed: {completed.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


async def run_http(url: str, redis_url: str, profile: Profile, user_ids: list[str],
                   log: Callable[[str], None] = print) -> list[Sample]:
    """Start both services, run the interleaved load rounds, stop them; one Sample per
    (endpoint, service)."""
    servers = _servers(url, redis_url)
    samples = {(scenario, s.name): Sample(scenario, s.name)
               for scenario in HTTP_SCENARIOS for s in servers}
    errors: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory(prefix="pgkeel-bench-") as scratch:
        try:
            for server in servers:
                server.start()
            for server in servers:
                await server.wait_ready()
            token = await _login(servers[0].base, "org-1")
            paths = {"http_list_users": ["/v1/users?page=1&pageSize=20"],
                     "http_get_user": [f"/v1/users/{uid}" for uid in user_ids]}
            await _same_answers(servers, paths, token)
            files = {}
            for scenario, items in paths.items():
                files[scenario] = Path(scratch, f"{scenario}.json")
                files[scenario].write_text(json.dumps(items))
            for r in range(profile.http_rounds):
                for scenario in HTTP_SCENARIOS:
                    order = servers if r % 2 == 0 else servers[::-1]
                    for server in order:
                        result = await asyncio.to_thread(_loadgen, server.base, token,
                                                         files[scenario], profile)
                        sample = samples[(scenario, server.name)]
                        sample.durations_ns += [int(ms * 1e6) for ms in result["latencies_ms"]]
                        sample.wall_s += result["duration_s"]
                        sample.ops_override = (sample.ops_override or 0) + result["count"]
                        key = (scenario, server.name)
                        errors[key] = errors.get(key, 0) + int(result["errors"])
            for (scenario, name), sample in samples.items():
                sample.peak_rss_mb = next(s for s in servers if s.name == name).peak_rss_mb()
                per_s = (sample.ops_override or 0) / sample.wall_s if sample.wall_s else 0
                log(f"  {scenario} {name}: {per_s:.0f} req/s, peak RSS "
                    f"{sample.peak_rss_mb or 0:.0f} MB, errors {errors[(scenario, name)]}")
            failed = {k: v for k, v in errors.items() if v}
            if failed:
                raise RuntimeError(f"non-200 answers under load: {failed}")
        finally:
            for server in servers:
                server.stop()
    return list(samples.values())
