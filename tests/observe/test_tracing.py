"""OpenTelemetry spans with the SDK's in-memory exporter: HTTP requests by route template,
queries with their text and never their parameter values, retries as events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pgkeel.observe import tracing
from pgkeel.web import HttpMetricsMiddleware

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()


async def test_queries_are_spans_without_their_parameter_values(spans, pgkeel_db):
    with tracing.span("caller"):
        assert await pgkeel_db.fetch_val("SELECT %s::int + 1", (4141,)) == 4142
    finished = {s.name: s for s in spans.get_finished_spans()}
    query = next(s for name, s in finished.items() if name.startswith("db "))
    assert query.attributes["db.system"] == "postgresql"
    assert "SELECT %s::int + 1" in query.attributes["db.statement"]
    assert all("4141" not in str(value) for value in query.attributes.values())
    # Under the statement's transaction, under the caller's span.
    transaction = finished["pgkeel.transaction"]
    assert query.parent.span_id == transaction.context.span_id
    assert transaction.parent.span_id == finished["caller"].context.span_id


async def test_a_retried_transaction_records_each_retry_as_an_event(spans, pgkeel_db):
    attempts: list[int] = []

    async def conflicting(tx: Any) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            await tx.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict'"
                             " USING ERRCODE = '40001'; END $$")
        return len(attempts)

    with tracing.span("work"):
        assert await pgkeel_db.run_in_tx(conflicting) == 2
    finished = spans.get_finished_spans()
    [work] = [s for s in finished if s.name == "work"]
    [run] = [s for s in finished if s.name == "pgkeel.run_in_tx"]
    assert run.parent.span_id == work.context.span_id
    assert run.attributes["pgkeel.transaction.attempts"] == 2
    [retry] = [e for e in run.events if e.name == "pgkeel.transaction.retry"]
    assert (retry.attributes["reason"], retry.attributes["attempt"]) == ("serialization_failure", 1)
    # Each attempt is a transaction span under it; the failed one carries its error.
    attempts = [s for s in finished if s.name == "pgkeel.transaction"
                and s.parent is not None and s.parent.span_id == run.context.span_id]
    assert len(attempts) == 2
    assert [s.status.is_ok for s in attempts] == [False, True]


async def test_a_transaction_is_a_span_around_its_queries(spans, pgkeel_db):
    with tracing.span("caller") as caller:
        async with pgkeel_db.transaction() as tx:
            await tx.fetch_val("SELECT 1")
    finished = spans.get_finished_spans()
    [transaction] = [s for s in finished if s.name == "pgkeel.transaction"
                     and s.parent is not None
                     and s.parent.span_id == caller.get_span_context().span_id]
    assert transaction.attributes["db.system"] == "postgresql"
    assert transaction.attributes["pgkeel.pool"]
    queries = [s for s in finished if s.name.startswith("db ") and s.parent is not None
               and s.parent.span_id == transaction.context.span_id]
    assert [q.attributes["db.statement"] for q in queries] == ["SELECT 1"]


async def test_cache_reads_writes_and_invalidations_are_spans(spans, pgkeel_db):
    from pgkeel.cache import MISS, Cache
    from pgkeel.db import use_context

    async with Cache.memory() as cache:
        key = cache.key("widgets", 7, org=1)
        assert await cache.get(key) is MISS
        await cache.set(key, {"n": 1})
        assert await cache.get(key) == {"n": 1}
        assert await cache.get_or_set(cache.key("widgets", 8, org=1), _load) == 8
        await cache.delete(key)
        await cache.invalidate("widgets", org=1)
        with use_context(org_id=1):
            async with pgkeel_db.transaction() as tx:
                cache.invalidate_on_commit(tx, key, "widgets")
    finished = spans.get_finished_spans()
    gets = [s for s in finished if s.name == "pgkeel.cache.get"]
    assert [s.attributes["pgkeel.cache.hit"] for s in gets] == [False, True]
    assert {s.attributes["pgkeel.cache.resource"] for s in gets} == {"widgets"}
    names = [s.name for s in finished]
    assert names.count("pgkeel.cache.set") == 1
    assert names.count("pgkeel.cache.get_or_set") == 1
    invalidations = [s for s in finished if s.name == "pgkeel.cache.invalidate"]
    assert [(s.attributes["pgkeel.cache.keys"], s.attributes["pgkeel.cache.tags"])
            for s in invalidations] == [(1, 0), (0, 1), (1, 1)]
    assert invalidations[-1].attributes["pgkeel.cache.on_commit"] is True


async def _load() -> int:
    return 8


async def test_http_requests_are_spans_named_by_route_template(spans):
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.add_middleware(HttpMetricsMiddleware)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/items/12345")).status_code == 200
        assert (await client.get("/nowhere/12345")).status_code == 404
    names = {s.name: s for s in spans.get_finished_spans()}
    assert names["GET /items/{item_id}"].attributes["http.response.status_code"] == 200
    assert names["GET <unmatched>"].attributes["http.route"] == "<unmatched>"
    assert not any("12345" in name for name in names)


def test_without_enable_nothing_is_recorded():
    assert not tracing.enabled()
    with tracing.span("ignored") as current:
        assert current is None
    tracing.event("ignored")


async def test_an_outbox_relay_batch_is_a_publish_span(spans, pgkeel_db):
    from pgkeel import outbox

    await outbox.install(pgkeel_db)
    sink = outbox.InProcessSink()
    async with pgkeel_db.transaction() as tx:
        await outbox.add(tx, outbox.OutboxEvent(aggregate_type="thing", aggregate_id="t-1",
                                                event_type="thing.made", payload={"n": 1}))
    relay = outbox.Relay(pgkeel_db, sink)
    assert await relay.drain() >= 1
    [publish, *_] = [s for s in spans.get_finished_spans()
                     if s.name == "pgkeel.outbox.publish"]
    assert publish.attributes["pgkeel.outbox.sink"] == sink.name
    assert publish.attributes["pgkeel.outbox.events"] >= 1
