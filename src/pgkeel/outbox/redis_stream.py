"""`RedisStreamSink`: the default sink, one `XADD` per event, pipelined.

Stream naming: every event goes to the stream `stream` (default `pgkeel:outbox`, setting
`OUTBOX_STREAM`). The name may use `{aggregate_type}`, `{event_type}` and `{org_id}` to fan out,
e.g. `app:events:{aggregate_type}`; keep one partition key's events in one stream, or their
order means nothing to a reader. Each entry has the fields `id` (the event id: deduplicate on
it), `type`, `aggregate_type`, `aggregate_id`, `key`, `org_id` (when set), `created_at`,
`payload` and `headers` (JSON). Streams are trimmed with `MAXLEN ~ maxlen` (approximate, so
trimming stays cheap); size it to what consumers may lag behind by.

On a Redis Cluster (a cluster `REDIS_URL`, see `pgkeel.redis_client`) each stream is one key,
so one slot on one node: a batch goes as a cluster pipeline, split by node, each stream's
events in order. A consumer that reads several streams in one XREAD needs them in one slot:
give the template a hash tag, written doubled so `format` keeps it
(`{{events}}:{aggregate_type}` names `{events}:user`, `{events}:order`, ...).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from pgkeel.outbox.sink import OutboxMessage, PublishResult
from pgkeel.redis_client import cluster_seeds, connect_redis

_HIREDIS: Any
try:  # redis-py's own hiredis reader, read directly when present (see `_replies`)
    from redis._parsers import hiredis as _HIREDIS
except ImportError:  # pragma: no cover - another redis-py layout: the generic path
    _HIREDIS = None

__all__ = ["RedisStreamSink", "decode_entry"]

DEFAULT_STREAM = "pgkeel:outbox"


class RedisStreamSink:
    """Publishes to Redis Streams. Connection errors fail the batch (the relay retries);
    a command error (a key of the wrong type) fails only its event.

    A batch is one pipelined write of `XADD`s, encoded here and sent on one pooled connection,
    then one read of the replies: per-command client overhead, not Redis, limits a generic
    pipeline, and this keeps it to a few microseconds per event.
    """

    name = "redis"

    def __init__(self, redis: Redis, *, stream: str = DEFAULT_STREAM,
                 maxlen: int | None = 1_000_000, owns_client: bool = False) -> None:
        self.redis = redis
        self.stream = stream
        self.maxlen = maxlen
        self._templated = "{" in stream
        self._owns_client = owns_client
        self._trim = b"$6\r\nMAXLEN\r\n$1\r\n~\r\n" + _bulk(str(maxlen).encode()) if maxlen else b""
        self._trim_args = 3 if maxlen else 0
        self._stream_bulk = b"" if self._templated else _bulk(stream.encode())

    @classmethod
    def from_url(cls, url: str, *, stream: str = DEFAULT_STREAM, maxlen: int | None = 1_000_000,
                 timeout_s: float = 5.0) -> RedisStreamSink:
        """A sink with a client of its own (closed by `close()`); a cluster URL gets a
        cluster client."""
        client = (connect_redis(url, timeout_s=timeout_s) if cluster_seeds(url) is not None
                  else Redis.from_url(url, socket_timeout=timeout_s,
                                      socket_connect_timeout=timeout_s))
        return cls(client, stream=stream, maxlen=maxlen, owns_client=True)

    def stream_for(self, message: OutboxMessage) -> str:
        if not self._templated:
            return self.stream
        return self.stream.format(aggregate_type=message.aggregate_type,
                                  event_type=message.event_type, org_id=message.org_id or "")

    def _command(self, message: OutboxMessage, created: dict[dt.datetime, _Created]) -> bytes:
        """One event's `XADD`, RESP-encoded in one formatting step (this runs per event).
        `created` keeps the batch's encoded `created_at` fields: the events of one producer
        transaction share their time, and formatting it is a good part of the cost."""
        fields = 10
        extra = b""
        key = message.partition_key
        if key is not None:
            fields += 2
            encoded = key.encode()
            extra = b"%b$%d\r\n%b\r\n" % (_KEY, len(encoded), encoded)
        if message.org_id is not None:
            fields += 2
            encoded = message.org_id.encode()
            extra += b"%b$%d\r\n%b\r\n" % (_ORG, len(encoded), encoded)
        created_at = message.created_at
        if created_at is not None:
            fields += 2
            field = created.get(created_at)
            if field is None or field[0] is not created_at.tzinfo:
                encoded = created_at.isoformat().encode()
                field = created[created_at] = (
                    created_at.tzinfo, b"%b$%d\r\n%b\r\n" % (_CREATED, len(encoded), encoded))
            extra += field[1]
        if message.headers:
            fields += 2
            encoded = orjson.dumps(message.headers)
            extra += b"%b$%d\r\n%b\r\n" % (_HEADERS, len(encoded), encoded)
        stream = self._stream_bulk or _bulk(self.stream_for(message).encode())
        event_type = message.event_type.encode()
        aggregate_type = message.aggregate_type.encode()
        aggregate_id = message.aggregate_id.encode()
        # A claimed event carries its id and payload as the text PostgreSQL sent.
        raw_id = getattr(message, "id_text", None)
        raw_payload = getattr(message, "payload_json", None)
        payload = (orjson.dumps(message.payload) if raw_payload is None
                   else raw_payload.encode())
        return _XADD % (
            3 + self._trim_args + fields, stream, self._trim,
            (str(message.id) if raw_id is None else raw_id).encode(),
            len(event_type), event_type, len(aggregate_type), aggregate_type,
            len(aggregate_id), aggregate_id, len(payload), payload, extra)

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
        if isinstance(self.redis, RedisCluster):
            return await self._publish_to_cluster(messages)
        created: dict[dt.datetime, _Created] = {}
        packed = b"".join([self._command(message, created) for message in messages])
        pool = self.redis.connection_pool
        conn: Any = await _connection(pool)
        timeout = conn.socket_timeout
        try:
            # One deadline for the whole batch rather than one per reply.
            async with asyncio.timeout(timeout):
                await conn.send_packed_command(packed, check_health=False)
                return await _replies(conn, len(messages))
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)

    async def _publish_to_cluster(self, messages: Sequence[OutboxMessage]
                                  ) -> Sequence[PublishResult]:
        """One cluster pipeline (split by node by the client). A command error fails its
        event; anything else (a node unreachable) fails the batch."""
        pipe = self.redis.pipeline(transaction=False)
        for message in messages:
            pipe.xadd(self.stream_for(message), dict(_pairs(message)),
                      maxlen=self.maxlen, approximate=True)
        replies = await pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, BaseException) and not isinstance(reply, ResponseError):
                raise reply
        return [reply if isinstance(reply, ResponseError) else None for reply in replies]

    async def close(self) -> None:
        if self._owns_client:
            await self.redis.aclose()


async def _connection(pool: Any) -> Any:
    """A connection from redis-py's pool (whose signature changed in 5.3)."""
    try:
        return await pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        return await pool.get_connection("XADD")


async def _replies(conn: Any, count: int) -> list[PublishResult]:
    """One result per pipelined command: None, or the command's error reply.

    With redis-py's hiredis parser (the usual case) the replies are taken straight from its
    reader, a C call each; otherwise through `read_response`, which costs a few coroutine
    frames per reply. On RESP3 a push message (client tracking) arriving between the replies
    goes to the parser's push handler, as `read_response` would hand it."""
    results: list[PublishResult] = []
    parser: Any = getattr(conn, "_parser", None)
    reader = getattr(parser, "_reader", None)
    fast = _HIREDIS is not None and isinstance(parser, _HIREDIS._AsyncHiredisParser)
    protocol = str(getattr(conn, "protocol", 2))
    push_type = getattr(parser, "_hiredis_PushNotificationType", None)
    if (fast and reader is not None
            and (protocol == "2" or (protocol == "3" and push_type is not None
                                     and hasattr(parser, "handle_push_response")))):
        append = results.append
        while len(results) < count:
            reply = reader.gets(False)
            if reply is _HIREDIS.NOT_ENOUGH_DATA:
                await parser.read_from_socket()
            elif push_type is not None and isinstance(reply, push_type):
                await parser.handle_push_response(reply)
            elif isinstance(reply, BaseException):
                if not isinstance(reply, ResponseError):
                    raise reply
                append(reply)
            else:
                append(None)
        return results
    for _ in range(count):
        try:
            await conn.read_response(disable_decoding=True, timeout=math.inf)
            results.append(None)
        except ResponseError as exc:
            results.append(exc)
    return results


_Created = tuple[dt.tzinfo | None, bytes]
"""A `created_at` field as encoded, with the time zone it was written in."""


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


_NAMES = {name: _bulk(name) for name in (b"id", b"type", b"aggregate_type", b"aggregate_id",
                                          b"payload", b"key", b"org_id", b"created_at",
                                          b"headers")}


def _pairs(message: OutboxMessage) -> list[tuple[bytes, bytes]]:
    """The entry's fields and values."""
    raw_payload = getattr(message, "payload_json", None)
    pairs = [(b"id", str(message.id).encode()), (b"type", message.event_type.encode()),
             (b"aggregate_type", message.aggregate_type.encode()),
             (b"aggregate_id", message.aggregate_id.encode()),
             (b"payload", orjson.dumps(message.payload) if raw_payload is None
              else raw_payload.encode())]
    if message.partition_key is not None:
        pairs.append((b"key", message.partition_key.encode()))
    if message.org_id is not None:
        pairs.append((b"org_id", message.org_id.encode()))
    if message.created_at is not None:
        pairs.append((b"created_at", message.created_at.isoformat().encode()))
    if message.headers:
        pairs.append((b"headers", orjson.dumps(message.headers)))
    return pairs


_ID, _TYPE, _AGGREGATE_TYPE, _AGGREGATE_ID, _PAYLOAD, _KEY, _ORG, _CREATED, _HEADERS = (
    _NAMES.values())

_XADD = (b"*%d\r\n$4\r\nXADD\r\n%b%b$1\r\n*\r\n" + _ID + b"$36\r\n%b\r\n" + _TYPE
         + b"$%d\r\n%b\r\n" + _AGGREGATE_TYPE + b"$%d\r\n%b\r\n" + _AGGREGATE_ID
         + b"$%d\r\n%b\r\n" + _PAYLOAD + b"$%d\r\n%b\r\n%b")


def decode_entry(fields: Mapping[bytes | str, bytes | str]) -> OutboxMessage:
    """The `OutboxMessage` an XRANGE/XREAD entry's fields describe (for consumers)."""
    data = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
                                                          else v) for k, v in fields.items()}
    created = data.get("created_at")
    return OutboxMessage(
        id=uuid.UUID(data["id"]), event_type=data["type"], aggregate_type=data["aggregate_type"],
        aggregate_id=data["aggregate_id"], payload=orjson.loads(data.get("payload", "{}")),
        headers=orjson.loads(data.get("headers", "{}")), partition_key=data.get("key"),
        org_id=data.get("org_id"),
        created_at=dt.datetime.fromisoformat(created) if created else None)
