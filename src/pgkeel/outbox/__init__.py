"""The transactional outbox: events written with the change they announce, published after.

Public API:
    OutboxEvent, add, add_many     write events in the caller's transaction (`.events`)
    notify                         wake listening relays (outside hot transactions)
    Relay, Backoff                 claim, publish, mark; retries, dead letters (`.relay`)
    run_relay                      run a relay inside a service's lifespan (`.web`)
    Inbox                          effectively-once consumers (`.inbox`)
    stats, dead_events, replay, prune, OutboxStats, DeadEvent     operations (`.admin`)
    Sink, OutboxMessage, PublishResult       the sink protocol (`.sink`)
    RedisStreamSink, decode_entry  Redis Streams, the default sink (`.redis_stream`)
    InProcessSink, SinkRefused     an in-process sink for tests (`.memory`)
    sink_from_settings             the sink OUTBOX_SINK_URL / REDIS_URL names (`.sinks`)
    SCHEMA, MIGRATIONS, install    the library migration set (`.schema`)
"""

from pgkeel.outbox.admin import DeadEvent, OutboxStats, dead_events, prune, replay, stats
from pgkeel.outbox.events import DEFAULT_MAX_ATTEMPTS, OutboxEvent, add, add_many, notify
from pgkeel.outbox.inbox import Inbox
from pgkeel.outbox.memory import InProcessSink, SinkRefused
from pgkeel.outbox.redis_stream import RedisStreamSink, decode_entry
from pgkeel.outbox.relay import Backoff, Relay
from pgkeel.outbox.schema import MIGRATIONS, SCHEMA, install
from pgkeel.outbox.sink import OutboxMessage, PublishResult, Sink
from pgkeel.outbox.sinks import sink_from_settings
from pgkeel.outbox.web import run_relay

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "MIGRATIONS",
    "SCHEMA",
    "Backoff",
    "DeadEvent",
    "InProcessSink",
    "Inbox",
    "OutboxEvent",
    "OutboxMessage",
    "OutboxStats",
    "PublishResult",
    "RedisStreamSink",
    "Relay",
    "Sink",
    "SinkRefused",
    "add",
    "add_many",
    "dead_events",
    "decode_entry",
    "install",
    "notify",
    "prune",
    "replay",
    "run_relay",
    "sink_from_settings",
    "stats",
]
