"""Every shell, console and curl example in README.md and docs/ runs against `make demo`'s
service.

The reference service is started the way `make demo` starts it (`python -m pgkeel_apps`, a
real uvicorn process) on a free port, against a database of its own on the test server and
the test Redis, with a small sample data set (DEMO_ORGS / DEMO_USERS). Each block runs in bash
with `localhost:8000` pointed at that service, `<token>` replaced by a real login token, and
`curl` failing on an HTTP error status. In ```console blocks each `$ ` line is a command; it
must exit 0, or non-zero when the output shown under it starts with `error:`. The blocks of
one page run in order in one working directory, so a page can build on its earlier examples.

A block that cannot run in a test says so in the doc source, on the line before its fence:
`<!-- not-run: reason -->`. It is reported as skipped with that reason, never dropped.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pgkeel.embedded import EmbeddedServers
from pgkeel.embedded._process import free_port
from pgkeel.testing.databases import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\n", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>.+?)\s*-->\s*\Z")
SHELL_LANGS = {"sh", "bash", "shell"}
LOOKS_LIKE_SHELL = re.compile(
    r"^(\w+=\$\()?(curl|pgkeel|make|pip|export|python3?|uvicorn|psql|redis-cli|valkey-cli"
    r"|nats|rabbitmqadmin|rabbitmqctl|docker|echo|cat|cd|jq) ", re.M)
DEMO_HOST = re.compile(r"\b(localhost|127\.0\.0\.1):8000\b")

# `curl` fails on an HTTP error status (unless the example prints the status itself).
PRELUDE = """\
set -eo pipefail
curl() {
  local arg
  for arg in "$@"; do
    case "$arg" in -w|--write-out) command curl "$@"; return;; esac
  done
  command curl --fail-with-body "$@"
}
"""


@dataclass(frozen=True)
class Example:
    page: str
    number: int
    kind: str            # "sh" or "console"
    body: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.page}#{self.number}"


def _examples() -> list[Example]:
    found = []
    for page in PAGES:
        text = page.read_text()
        name = str(page.relative_to(ROOT))
        number = 0
        for match in FENCE.finditer(text):
            lang, body = match.group("lang"), match.group("body")
            if lang in SHELL_LANGS:
                kind = "sh"
            elif lang == "console" or (lang == "" and re.search(r"^\$ ", body, re.M)):
                kind = "console"
            elif lang == "" and LOOKS_LIKE_SHELL.search(body):
                kind = "sh"
            else:
                continue
            number += 1
            marker = NOT_RUN.search(text[:match.start()])
            found.append(Example(name, number, kind, body,
                                 marker.group("reason") if marker else None))
    return found


def _console_script(body: str) -> str:
    """Each `$ ` command, checked to exit 0 -- or non-zero when its output says `error:`."""
    lines = body.splitlines()
    script, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        command = [lines[i][2:]]
        while command[-1].rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            command.append(lines[i])
        i += 1
        fails = i < len(lines) and lines[i].startswith("error:")
        text = "\n".join(command)
        quoted = text.replace("'", "'\\''")
        check = "-eq 0" if fails else "-ne 0"
        want = "an error" if fails else "exit 0"
        script += ["set +e", text, "rc=$?", "set -e",
                   f"if [ $rc {check} ]; then echo \"expected {want}, got $rc:\" '{quoted}' >&2;"
                   " exit 1; fi"]
    return "\n".join(script) + "\n"


EXAMPLES = _examples()


@dataclass
class DemoService:
    url: str
    port: int
    token: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def demo(pgkeel_servers: EmbeddedServers, pgkeel_redis_url: str, pgkeel_redis_prefix: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoService]:
    """`make demo`'s service, on a free port, with a database of its own."""
    if pgkeel_redis_url.startswith("memory://"):
        pytest.skip("the shell examples need a Redis server (`pgkeel cache stats`)")
    admin_url = pgkeel_servers.settings.database_url
    assert admin_url is not None
    database = create_database(admin_url, "pgkeel_docs")
    port = free_port()
    home = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": pgkeel_redis_url,
           "CACHE_PREFIX": f"{pgkeel_redis_prefix}docs-{secrets.token_hex(2)}:",
           "PGKEEL_HOME": str(home / ".pgkeel"), "APP_ENV": "development",
           "PORT": str(port), "DEMO_ORGS": "2", "DEMO_USERS": "20", "DEMO_CARS": "300",
           "DEMO_LEADS": "50", "DEMO_CAR_VIEWS": "5000",
           "MIGRATIONS_SCHEMA": "shop",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = (home / "service.log").open("w")
    service = subprocess.Popen([sys.executable, "-m", "pgkeel_apps"], env=env, cwd=home,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if service.poll() is not None:
                pytest.fail(f"the service exited:\n{(home / 'service.log').read_text()}")
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service never got ready:\n{(home / 'service.log').read_text()}")
            time.sleep(0.3)
        login = httpx.post(f"{url}/v1/auth/login", timeout=10, json={
            "organization": "org-1", "email": "admin@org-1.example",
            "password": "pgkeel-demo"})
        assert login.status_code == 200, login.text
        yield DemoService(url, port, login.json()["token"], env)
    finally:
        service.terminate()
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        log.close()
        drop_database(admin_url, database)


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {str(page.relative_to(ROOT)): tmp_path_factory.mktemp(page.stem) for page in PAGES}


def test_every_shell_example_is_found():
    pages = {example.page for example in EXAMPLES}
    assert {"README.md", "docs/http.md", "docs/tags.md", "docs/migrations.md"} <= pages
    assert any("curl" in example.body for example in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_shell_example_runs(example: Example, demo: DemoService,
                            workdirs: dict[str, Path]) -> None:
    if example.not_run:
        pytest.skip(f"not run ({example.id}): {example.not_run}")
    body = DEMO_HOST.sub(f"127.0.0.1:{demo.port}", example.body).replace("<token>", demo.token)
    script = PRELUDE + (body if example.kind == "sh" else _console_script(body))
    result = subprocess.run(["bash", "-c", script], cwd=workdirs[example.page], env=demo.env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"{example.id} failed (exit {result.returncode}):\n{example.body}\n"
        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
