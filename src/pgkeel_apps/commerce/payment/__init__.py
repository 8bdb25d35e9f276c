"""The payment service: payments through authorize -> capture -> settle, refunds, disputes,
tokenized payment methods, transactions and analytics (schema `payment`).

Public API:
    PaymentService             authorize (via the provider), capture, settle, refund, dispute
    PaymentProvider            the provider interface; TestPaymentProvider is deterministic
                               (tok_visa approves, tok_decline declines, tok_timeout times out)
    cleanup_expired_payments   expire stale pending payments and lapsed holds (a maintenance job)
    APP                        the reference app (`/v1/payments`)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pgkeel_apps.app import AppContext, ReferenceApp
from pgkeel_apps.commerce.payment.jobs import JOBS
from pgkeel_apps.commerce.payment.provider import (
    TEST_CARDS,
    Card,
    PaymentProvider,
    ProviderResult,
    TestPaymentProvider,
)
from pgkeel_apps.commerce.payment.routes import router
from pgkeel_apps.commerce.payment.service import PaymentService, cleanup_expired_payments
from pgkeel_apps.commerce.payment.tables import SCHEMA, TABLES

MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def start(ctx: AppContext) -> AsyncIterator[None]:
    ctx.app.state.payments = PaymentService(ctx.db, TestPaymentProvider(),
                                            cursor_codec=ctx.cursor_codec)
    yield


APP = ReferenceApp(name="payment", schema=SCHEMA, migrations=MIGRATIONS, tables=TABLES,
                   router=router, start=start, jobs=JOBS)

__all__ = ["APP", "JOBS", "MIGRATIONS", "SCHEMA", "TABLES", "TEST_CARDS", "Card", "PaymentProvider",
           "PaymentService", "ProviderResult", "TestPaymentProvider",
           "cleanup_expired_payments", "router"]
