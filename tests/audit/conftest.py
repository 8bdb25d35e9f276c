"""Fixtures for the audit tests: the audit schema installed once per run, an `AuditLog` on
the run's database, a unique organization per test (the audit tables are shared by every
test of the run), and a check that no test ever makes the appender drop an event."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest

from pgkeel.audit import AuditLog
from pgkeel.config import Settings
from pgkeel.db import Database
from pgkeel.observe.metrics import REGISTRY


@pytest.fixture(scope="session")
def audit_installed(pgkeel_settings: Settings) -> None:
    """Apply the audit migrations to the run's database (idempotent)."""
    async def install() -> None:
        async with Database.from_settings(pgkeel_settings, min_size=1) as db:
            await AuditLog(db).install()

    asyncio.run(install())


@pytest.fixture
def audit(pgkeel_db: Database, audit_installed: None) -> AuditLog:
    return AuditLog(pgkeel_db)


@pytest.fixture
def org() -> str:
    """An organization id no other test uses: scope every assertion by it."""
    return f"org-{secrets.token_hex(5)}"


def dropped_total() -> float:
    return REGISTRY.get_sample_value("pgkeel_audit_dropped_total") or 0.0


@pytest.fixture(autouse=True)
def no_audit_event_dropped() -> Iterator[None]:
    """pgkeel_audit_dropped_total must stay 0 in every test."""
    before = dropped_total()
    yield
    assert dropped_total() == before, "the audit appender dropped events"
