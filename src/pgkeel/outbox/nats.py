"""The NATS JetStream sink: events stored in a stream, deduplicated by their id.

Each event goes to the subject `<prefix>.<event type>` (or what `subject=` returns) with the
`Nats-Msg-Id` header set to the event id, so JetStream drops a re-publish of the same event
within the stream's duplicate window -- the relay's at-least-once becomes exactly-once storage
in the stream as long as a retry comes within that window. A batch is sent at once and its
publish acks are awaited together. Needs the `nats` extra (`pip install 'pgkeel[nats]'`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pgkeel.errors import BrokerUnavailable, ConfigError, PublishFailed
from pgkeel.outbox._brokers import (
    encode_body,
    headers_for,
    in_key_order,
    require,
    split_options,
    url_flag,
    url_float,
)
from pgkeel.outbox.sink import OutboxMessage, PublishResult

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

    from pgkeel.config import Settings

__all__ = ["DEFAULT_STREAM", "NatsJetStreamSink", "sink_from_url"]

log = logging.getLogger(__name__)

DEFAULT_STREAM = "PGKEEL_OUTBOX"
DEFAULT_PREFIX = "outbox"
MSG_ID_HEADER = "Nats-Msg-Id"
_BAD_SUBJECT_CHARS = frozenset(" \t\r\n*>")


class NatsJetStreamSink:
    """Publishes outbox events to a JetStream stream, deduplicated through `Nats-Msg-Id`.

    `stream` is created when missing (or given the configured subjects when it lacks them)
    unless `ensure_stream=False`, for streams an operator manages. `duplicate_window_s` is
    the stream's deduplication window for a stream this sink creates.
    """

    name = "nats"

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str = DEFAULT_STREAM,
        subject_prefix: str = DEFAULT_PREFIX,
        subjects: Sequence[str] | None = None,
        subject: Callable[[OutboxMessage], str] | None = None,
        ensure_stream: bool = True,
        duplicate_window_s: float = 120.0,
        max_age_s: float | None = None,
        memory_storage: bool = False,
        timeout_s: float = 5.0,
        connect_timeout_s: int = 2,
    ) -> None:
        require("nats", extra="nats", package="nats-py")
        if max_age_s is not None and duplicate_window_s > max_age_s:
            raise ConfigError(
                "The duplicate window cannot be longer than the stream's max age.",
                details={"duplicate_window_s": duplicate_window_s, "max_age_s": max_age_s})
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.subjects = list(subjects) if subjects else [f"{subject_prefix}.>"]
        self._subject = subject or self._default_subject
        self.ensure_stream = ensure_stream
        self.duplicate_window_s = duplicate_window_s
        self.max_age_s = max_age_s
        self.memory_storage = memory_storage
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()

    def _default_subject(self, message: OutboxMessage) -> str:
        return f"{self.subject_prefix}.{message.event_type}"

    async def _context(self) -> JetStreamContext:
        """The JetStream context, connecting (and ensuring the stream) on first use or after
        the connection closed."""
        async with self._lock:
            if self._js is not None and self._nc is not None and not self._nc.is_closed:
                return self._js
            nats = require("nats", extra="nats", package="nats-py")
            from nats.js.errors import APIError
            try:
                # Fail fast (two tries): the relay retries the batch with its own backoff.
                # nats-py treats max_reconnect_attempts=0 as "forever" on the first connect.
                nc: Client = await nats.connect(
                    self.url, connect_timeout=self.connect_timeout_s, allow_reconnect=False,
                    max_reconnect_attempts=1, reconnect_time_wait=0, error_cb=_log_error,
                    name="pgkeel-outbox")
            except Exception as exc:
                raise BrokerUnavailable(
                    f"NATS did not answer at {self.url}: {exc or type(exc).__name__}",
                    details={"broker": "nats", "url": self.url},
                    hint="Check that nats-server runs with JetStream enabled (-js).") from exc
            js = nc.jetstream(timeout=self.timeout_s)
            try:
                if self.ensure_stream:
                    await self._ensure_stream(js)
            except BaseException as exc:
                await nc.close()
                if isinstance(exc, APIError):
                    raise ConfigError(
                        f"JetStream refused the stream {self.stream!r}: {exc.description}",
                        details={"stream": self.stream, "subjects": self.subjects,
                                 "err_code": exc.err_code},
                        hint="Another stream may already take these subjects; choose other"
                             " subjects or pass ensure_stream=False.") from exc
                raise
            self._nc, self._js = nc, js
            return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream, or add the configured subjects to an existing one."""
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(StreamConfig(
                name=self.stream, subjects=list(self.subjects),
                duplicate_window=self.duplicate_window_s, max_age=self.max_age_s,
                storage=StorageType.MEMORY if self.memory_storage else StorageType.FILE))
            return
        have = list(info.config.subjects or [])
        missing = [s for s in self.subjects if s not in have]
        if missing:
            info.config.subjects = have + missing
            await js.update_stream(info.config)

    async def publish(self, messages: Sequence[OutboxMessage]) -> Sequence[PublishResult]:
        """Send the batch, then await its publish acks together; one result per message.

        A re-published id inside the duplicate window is acknowledged (as a duplicate) and
        stored once.
        """
        if not messages:
            return []
        js = await self._context()
        return await in_key_order(messages, lambda wave: self._wave(js, wave))

    async def _wave(self, js: JetStreamContext,
                    messages: Sequence[OutboxMessage]) -> list[PublishResult]:
        results: list[PublishResult] = [None] * len(messages)
        pending: dict[asyncio.Future[Any], int] = {}
        try:
            for index, message in enumerate(messages):
                subject = self._subject(message)
                if not _valid_subject(subject):
                    results[index] = PublishFailed(
                        f"{subject!r} is not a NATS subject one can publish to.",
                        details={"event_id": str(message.id), "reason": "invalid_subject"},
                        hint="Event types become subject tokens: no spaces, '*' or '>'.")
                    continue
                headers = {**headers_for(message), MSG_ID_HEADER: str(message.id)}
                future = await js.publish_async(subject, encode_body(message), headers=headers,
                                                wait_stall=self.timeout_s)
                pending[future] = index
        except Exception as exc:
            for future in pending:
                future.cancel()
            raise BrokerUnavailable(
                f"NATS connection failed while publishing: {exc or type(exc).__name__}",
                details={"broker": "nats", "url": self.url}) from exc
        if pending:
            done, late = await asyncio.wait(pending, timeout=self.timeout_s)
            for future in done:
                error = future.exception()
                results[pending[future]] = None if error is None else error
            for future in late:
                future.cancel()
                results[pending[future]] = PublishFailed(
                    f"No JetStream publish ack within {self.timeout_s} s.",
                    details={"event_id": str(messages[pending[future]].id),
                             "reason": "timeout"})
        return results

    async def close(self) -> None:
        """Close the connection (a later publish connects again)."""
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            await nc.close()


URL_OPTIONS = ("stream", "subject_prefix", "duplicate_window_s", "max_age_s", "ensure_stream",
               "memory_storage", "timeout_s")


def sink_from_url(url: str, settings: Settings | None = None) -> NatsJetStreamSink:
    """The sink `OUTBOX_SINK_URL=nats://host:4222?stream=...&subject_prefix=...` names.

    Query options: stream, subject_prefix, duplicate_window_s, max_age_s, ensure_stream,
    memory_storage, timeout_s (the rest of the URL goes to nats-py as it is)."""
    server, options = split_options(url, URL_OPTIONS)
    return NatsJetStreamSink(
        server, stream=options.get("stream", DEFAULT_STREAM),
        subject_prefix=options.get("subject_prefix", DEFAULT_PREFIX),
        duplicate_window_s=url_float(options, "duplicate_window_s", 120.0),
        max_age_s=url_float(options, "max_age_s", None),
        ensure_stream=url_flag(options, "ensure_stream", True),
        memory_storage=url_flag(options, "memory_storage", False),
        timeout_s=url_float(options, "timeout_s", 5.0))


async def _log_error(error: Exception) -> None:
    """nats-py reports connection errors here; the sink raises them itself, so only log."""
    log.debug("nats: %s", error)


def _valid_subject(subject: str) -> bool:
    return (bool(subject) and not _BAD_SUBJECT_CHARS.intersection(subject)
            and all(subject.split(".")))
