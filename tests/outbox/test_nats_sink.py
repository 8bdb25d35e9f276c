"""NatsJetStreamSink against the real NATS server (JetStream) on 127.0.0.1:4222.

Each test owns a stream and subject prefix of its own and deletes the stream afterwards; the
shared server itself is never reconfigured. Without a server there, the tests skip."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

pytest.importorskip("nats", reason="the nats extra is not installed (pip install pgkeel[nats])")

import nats
from nats.js.api import StreamConfig
from nats.js.client import JetStreamContext

from pgkeel.errors import BrokerUnavailable, ConfigError, MissingExtra, PublishFailed
from pgkeel.outbox.nats import NatsJetStreamSink, sink_from_url
from tests.outbox.brokers import (
    NATS_URL,
    add_in_transactions,
    assert_key_order,
    closed_port_url,
    host_port,
    message,
    order_events,
    require_broker,
)


@pytest.fixture
async def js() -> AsyncIterator[JetStreamContext]:
    require_broker(host_port(NATS_URL), "NATS")
    nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


class Names:
    def __init__(self) -> None:
        token = secrets.token_hex(4)
        self.stream = f"PGKEEL_T_{token.upper()}"
        self.prefix = f"pgkeel-t-{token}"


@pytest.fixture
async def names(js: JetStreamContext) -> AsyncIterator[Names]:
    names = Names()
    yield names
    try:
        await js.delete_stream(names.stream)
    except nats.js.errors.NotFoundError:
        pass


@pytest.fixture
async def sink(names: Names) -> AsyncIterator[NatsJetStreamSink]:
    sink = NatsJetStreamSink(NATS_URL, stream=names.stream, subject_prefix=names.prefix,
                             duplicate_window_s=60)
    yield sink
    await sink.close()


async def stored(js: JetStreamContext, stream: str) -> list[Any]:
    info = await js.stream_info(stream)
    first, count = info.state.first_seq, info.state.messages
    return [await js.get_msg(stream, seq) for seq in range(first, first + count)]


async def test_delivers_payload_headers_and_event_id(js, names, sink):
    batch = [message(1, key="a"), message(2, key="b"), message(3)]
    assert list(await sink.publish(batch)) == [None, None, None]

    msgs = await stored(js, names.stream)
    assert [m.subject for m in msgs] == [f"{names.prefix}.user.created"] * 3
    by_id = {m.headers["Nats-Msg-Id"]: m for m in msgs}
    assert set(by_id) == {str(e.id) for e in batch}
    for event in batch:
        got = by_id[str(event.id)]
        assert orjson.loads(got.data) == dict(event.payload)
        assert got.headers["Pgkeel-Event-Id"] == str(event.id)
        assert got.headers["Pgkeel-Event-Type"] == "user.created"
        assert got.headers["Pgkeel-Aggregate-Type"] == "user"
        assert got.headers["Pgkeel-Aggregate-Id"] == event.aggregate_id
        assert got.headers["Pgkeel-Org-Id"] == "org-1"
        assert got.headers["Pgkeel-Created-At"] == "2026-01-02T03:04:05+00:00"
        assert got.headers["traceparent"] == event.headers["traceparent"]
        assert got.headers.get("Pgkeel-Partition-Key") == event.partition_key


async def test_a_republished_event_id_is_stored_once(js, names, sink):
    first = message(1)
    assert list(await sink.publish([first])) == [None]
    # The relay retries after a lost ack: the same id again, plus a new event.
    again = [first, message(2)]
    assert list(await sink.publish(again)) == [None, None], "a duplicate is acknowledged"
    msgs = await stored(js, names.stream)
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [str(first.id), str(again[1].id)]

    info = await js.stream_info(names.stream)
    assert info.config.duplicate_window == 60


async def test_one_keys_events_are_stored_in_order(js, names, sink):
    batch = [message(i, key="same") for i in range(5)] + [message(9, key="other")]
    assert list(await sink.publish(batch)) == [None] * 6
    msgs = await stored(js, names.stream)
    same = [orjson.loads(m.data)["i"] for m in msgs if m.headers.get(
        "Pgkeel-Partition-Key") == "same"]
    assert same == [0, 1, 2, 3, 4]


async def test_a_failed_event_holds_back_the_rest_of_its_key(js, names, sink):
    batch = [message(1, key="a", event_type="bad type"), message(2, key="a"),
             message(3, key="b")]
    results = list(await sink.publish(batch))
    assert isinstance(results[0], PublishFailed)
    assert results[0].details["reason"] == "invalid_subject"
    assert isinstance(results[1], PublishFailed)
    assert results[1].details["reason"] == "held_back"
    assert results[2] is None
    msgs = await stored(js, names.stream)
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == [str(batch[2].id)]


async def test_an_existing_stream_gains_the_configured_subjects(js, names):
    await js.add_stream(StreamConfig(name=names.stream, subjects=[f"{names.prefix}-old.>"]))
    sink = NatsJetStreamSink(NATS_URL, stream=names.stream, subject_prefix=names.prefix)
    try:
        assert list(await sink.publish([message(1)])) == [None]
    finally:
        await sink.close()
    info = await js.stream_info(names.stream)
    assert info.config.subjects == [f"{names.prefix}-old.>", f"{names.prefix}.>"]
    assert info.state.messages == 1


async def test_a_stream_jetstream_refuses_is_a_config_error(js, names):
    await js.add_stream(StreamConfig(name=names.stream, subjects=[f"{names.prefix}.>"]))
    sink = NatsJetStreamSink(NATS_URL, stream=f"{names.stream}_OTHER",
                             subject_prefix=names.prefix)
    with pytest.raises(ConfigError) as info:   # the subjects belong to another stream
        await sink.publish([message(1)])
    assert info.value.details["stream"] == f"{names.stream}_OTHER"
    await sink.close()
    with pytest.raises(ConfigError, match="duplicate window"):
        NatsJetStreamSink(NATS_URL, duplicate_window_s=120, max_age_s=60)


async def test_no_stream_for_the_subject_fails_each_message(js, names):
    sink = NatsJetStreamSink(NATS_URL, stream=names.stream, subject_prefix=names.prefix,
                             ensure_stream=False, timeout_s=2)
    try:
        results = list(await sink.publish([message(1), message(2)]))
    finally:
        await sink.close()
    assert all(isinstance(r, Exception) for r in results), results


async def test_a_sink_from_a_url_takes_its_settings_from_the_query(js, names):
    sink = sink_from_url(f"{NATS_URL}?stream={names.stream}&subject_prefix={names.prefix}"
                         "&duplicate_window_s=30&memory_storage=true")
    try:
        assert list(await sink.publish([message(1)])) == [None]
    finally:
        await sink.close()
    info = await js.stream_info(names.stream)
    assert info.config.duplicate_window == 30
    assert info.config.subjects == [f"{names.prefix}.>"]
    assert info.config.storage == "memory"
    assert sink.url == NATS_URL
    with pytest.raises(ConfigError, match="duplicate_window_s"):
        sink_from_url(f"{NATS_URL}?duplicate_window_s=soon")


async def test_outbox_sink_url_selects_this_sink(pgkeel_settings):
    from pgkeel.outbox import sink_from_settings

    url = "nats://127.0.0.1:4222?stream=ORDERS&subject_prefix=orders"
    sink = sink_from_settings(pgkeel_settings.model_copy(update={"outbox_sink_url": url}))
    assert isinstance(sink, NatsJetStreamSink)
    assert (sink.url, sink.stream, sink.subject_prefix) == (
        "nats://127.0.0.1:4222", "ORDERS", "orders")
    await sink.close()


async def test_a_broker_that_is_down_fails_the_whole_batch():
    sink = NatsJetStreamSink(closed_port_url("nats"), connect_timeout_s=1)
    with pytest.raises(BrokerUnavailable) as info:
        await sink.publish([message(1), message(2)])
    assert info.value.code == "broker_unavailable"
    assert info.value.details["broker"] == "nats"
    await sink.close()


async def test_a_relay_delivers_every_committed_event_in_key_order(db, js, names):
    from pgkeel.outbox import Relay

    ids = await add_in_transactions(db, order_events(60, keys=4))
    sink = NatsJetStreamSink(NATS_URL, stream=names.stream, subject_prefix=names.prefix)
    try:
        assert await Relay(db, sink, batch_size=16, listen=False).drain() == 60
    finally:
        await sink.close()

    consumer = await js.pull_subscribe(f"{names.prefix}.>", stream=names.stream)
    got = await consumer.fetch(100, timeout=5)
    for msg in got:
        await msg.ack()
    assert sorted(m.headers["Nats-Msg-Id"] for m in got) == sorted(map(str, ids))
    assert {m.subject for m in got} == {f"{names.prefix}.order.updated"}
    assert_key_order([(m.headers["Pgkeel-Aggregate-Id"], orjson.loads(m.data)["n"])
                      for m in got])


def test_without_the_extra_the_error_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "nats", None)   # what `import nats` sees when missing
    with pytest.raises(MissingExtra) as info:
        NatsJetStreamSink()
    assert info.value.code == "missing_extra"
    assert info.value.hint == "pip install 'pgkeel[nats]'"
