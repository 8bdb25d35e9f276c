"""schemathesis against a real uvicorn of the reference service: every check, the coverage,
fuzzing and stateful phases, a bounded number of examples -- and zero failures.

The service runs on a free port against a database of this test's own (two demo
organizations) and this session's Redis prefix, authenticated with a real login token.
`tests/pgkeel_apps/schemathesis.toml` holds the (commented) configuration; this test adds the
ids of rows that exist (and a real dealer and car slugs), so that id routes are reached and
not only answered with 404.
Reproduce a run with PGKEEL_FUZZ_SEED=<seed> (printed on failure); PGKEEL_FUZZ_EXAMPLES raises
the number of examples per operation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from pgkeel.testing.databases import create_database, drop_database
from tests.pgkeel_apps.conftest import PASSWORD, TEST_ENV

pytestmark = pytest.mark.timeout(900)

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("fuzz_hooks.py")
SEED = int(os.environ.get("PGKEEL_FUZZ_SEED", "20261202"))
MAX_EXAMPLES = int(os.environ.get("PGKEEL_FUZZ_EXAMPLES", "15"))


@pytest.fixture
def fuzz_database(admin_url: str):
    url = create_database(admin_url, prefix="pgkeel_fuzz")
    try:
        yield url
    finally:
        drop_database(admin_url, url)


def known_ids(database_url: str) -> dict[str, list[str]]:
    """Rows of org-1 the fuzzer may act on: everyone but the admin it runs as (so it cannot
    suspend itself out of the run), the organization's roles."""
    with psycopg.connect(database_url) as conn:
        org = "(SELECT id FROM identity.organizations WHERE slug = 'org-1')"
        users = conn.execute(f"SELECT id::text FROM identity.users WHERE organization_id = {org}"
                             " AND email <> 'admin@org-1.example' LIMIT 5").fetchall()
        roles = conn.execute(f"SELECT id::text FROM identity.roles WHERE organization_id = "
                             f"{org}").fetchall()
        slugs = conn.execute(f"SELECT slug FROM dealership.cars WHERE organization_id = {org}"
                             " AND deleted_at IS NULL AND status = 'AVAILABLE' LIMIT 5"
                             ).fetchall()
    return {"users": [r[0] for r in users], "roles": [r[0] for r in roles],
            "dealers": ["org-1"], "car_slugs": [r[0] for r in slugs]}


def write_config(path: Path, ids: dict[str, list[str]]) -> Path:
    """The checked-in configuration, plus: a real login (schemathesis logs in again whenever
    its token stops working, as after POST /v1/auth/logout), and dictionaries of existing ids
    for the path parameters (drawn most of the time; generated ids still test the 404s)."""
    login = {"organization": "org-1", "email": "admin@org-1.example", "password": PASSWORD}
    lines = [CONFIG.read_text(), "",
             "[auth.dynamic.openapi.bearer]", 'path = "/v1/auth/login"',
             f"payload = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in login.items())} }}",
             'extract_selector = "/token"', "retry_on = [401]", ""]
    for name, values in ids.items():
        lines.append(f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n")
    lines.append("[parameters]")
    for parameter, dictionary in (("path.user_id", "users"), ("path.role_id", "roles"),
                                  ("path.tag_id", "tags"), ("path.customer_id", "customers"),
                                  ("path.dealer", "dealers"), ("path.slug", "car_slugs")):
        lines.append(f'"{parameter}" = {{dictionary = "{dictionary}", probability = 0.8}}')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_schemathesis_finds_nothing(live_server, fuzz_database, tmp_path):
    # The dealer's public routes run for real (org-1 has sample cars); the contact form's
    # rate limit stays out of the fuzzer's way, as the login limits do.
    server = live_server({**TEST_ENV, "DATABASE_URL": fuzz_database, "DEMO_ORGS": "2",
                          "DEMO_USERS": "20", "CONTACT_LIMIT": "1000000"})
    login = httpx.post(f"{server.base_url}/v1/auth/login", json={
        "organization": "org-1", "email": "admin@org-1.example", "password": PASSWORD})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    tags = [httpx.post(f"{server.base_url}/api/admin/tags", headers=headers,
                       json={"name": f"fuzz-{i}", "color": "#336699"}).json()["id"]
            for i in range(3)]
    ids = known_ids(fuzz_database)
    customers = ids["users"]  # a customer is a user of the organization
    for tag in tags[:2]:
        assigned = httpx.post(f"{server.base_url}/api/admin/customers/{customers[0]}/tags",
                              headers=headers, json={"tagId": tag})
        assert assigned.status_code == 201, assigned.text
    config = write_config(tmp_path / "schemathesis.toml",
                          {**ids, "tags": tags, "customers": customers})

    st = Path(sys.executable).with_name("st")
    command = [str(st), "--config-file", str(config), "run", f"{server.base_url}/openapi.json",
               "--phases", "examples,coverage,fuzzing,stateful",
               "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
               "--generation-database", "none", "--request-timeout", "30", "--no-color",
               "--report", "json", "--report-dir", str(tmp_path / "report")]
    # One worker: CPython 3.11's ast.parse, which hypothesis calls to describe filters, is not
    # safe in threads ("AST constructor recursion depth mismatch").
    run = subprocess.run(command, capture_output=True, text=True, timeout=840, check=False,
                         cwd=tmp_path,  # its cache (.schemathesis/) stays out of the tree
                         env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS),
                              "PGKEEL_FUZZ_PASSWORD": PASSWORD})
    reports = list((tmp_path / "report").glob("*.json"))
    assert reports, run.stdout[-5000:] + run.stderr[-3000:]
    report = json.loads(reports[0].read_text())
    failed = f"seed {SEED}:\n{run.stdout[-12000:]}\n{run.stderr[-3000:]}"
    assert report["failures"] == [], failed
    assert report["errors"] == [], failed
    assert run.returncode == 0, failed
    # All three generating phases ran (the examples phase has no examples to run).
    ran = {name for name, phase in report["phases"].items() if phase["status"] == "success"}
    assert {"coverage", "fuzzing", "stateful"} <= ran, report["phases"]
    assert report["test_cases"]["generated"] > 500
    # It stayed logged in (logging in again after logout or a password change) and got past
    # authentication and validation: real rows were listed, read and written.
    assert not report["auth"]["reauth_broke"], report["auth"]
    accepted = {op: sum(phase.get("accepted", 0) for phase in rates.values())
                for op, rates in report["valid_rates"].items()}
    for operation in ("GET /v1/users", "GET /v1/users/{user_id}", "POST /api/admin/tags",
                      "PATCH /api/admin/tags/{tag_id}", "GET /v1/dealers/{dealer}/cars",
                      "GET /v1/dealers/{dealer}/cars/{slug}"):
        assert accepted.get(operation, 0) > 0, (operation, accepted)
    assert "unhandled error" not in server.output()
