"""Choosing the relay's sink from settings: `OUTBOX_SINK_URL`, else Redis Streams on REDIS_URL.

The URL's scheme picks the sink: `redis://` / `rediss://` (or a Redis Cluster URL:
`redis+cluster://`, a list of seeds) -> `RedisStreamSink` (stream
`OUTBOX_STREAM`, by default `<CACHE_PREFIX>outbox`, trimmed to `OUTBOX_STREAM_MAXLEN`),
`nats://` / `tls://` -> `NatsJetStreamSink` (the `nats` extra), `amqp://` / `amqps://` ->
`RabbitMqSink` (the `rabbitmq` extra), `memory://` -> `InProcessSink` (for tests).
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from pgkeel.config import Settings, redact_dsn
from pgkeel.errors import OutboxSinkError
from pgkeel.outbox.memory import InProcessSink
from pgkeel.outbox.redis_stream import RedisStreamSink
from pgkeel.outbox.sink import Sink

__all__ = ["BROKER_MODULES", "sink_from_settings", "sink_url", "stream_name"]

BROKER_MODULES: dict[str, str] = {
    "nats": "pgkeel.outbox.nats",
    "tls": "pgkeel.outbox.nats",
    "amqp": "pgkeel.outbox.rabbitmq",
    "amqps": "pgkeel.outbox.rabbitmq",
}
"""URL scheme -> module whose `sink_from_url(url, settings)` builds the sink (the sink's own
settings ride in the URL's query string: `nats://host?stream=ORDERS`)."""


def sink_url(settings: Settings) -> str:
    """The URL the relay publishes to."""
    url = settings.outbox_sink_url or settings.redis_url
    if not url:
        raise OutboxSinkError("No outbox sink is configured.",
                              hint="Set OUTBOX_SINK_URL (or REDIS_URL for Redis Streams).")
    return url


def stream_name(settings: Settings) -> str:
    """The Redis stream (template) the relay publishes to."""
    return settings.outbox_stream or f"{settings.cache_prefix}outbox"


def sink_from_settings(settings: Settings) -> Sink:
    """A new sink for `settings` (close it when done)."""
    url = sink_url(settings)
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
        return RedisStreamSink.from_url(url, stream=stream_name(settings),
                                        maxlen=settings.outbox_stream_maxlen or None)
    if scheme == "memory":
        return InProcessSink()
    target = BROKER_MODULES.get(scheme)
    if target is None:
        raise OutboxSinkError(f"No outbox sink for URLs of scheme {scheme!r}.",
                              details={"url": redact_dsn(url)},
                              hint="Use redis://, nats:// or amqp://.")
    sink: Sink = importlib.import_module(target).sink_from_url(url, settings)
    return sink
