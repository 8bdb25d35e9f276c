"""What the broker sinks share: the message body and headers, per-key ordering, lazy imports.

Every broker sink sends the event's payload as the JSON body and its identity and metadata as
headers, so a consumer reads the same fields whichever broker carries the event.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from types import ModuleType
from typing import overload
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from pgkeel.errors import ConfigError, MissingExtra, PublishFailed
from pgkeel.outbox.sink import OutboxMessage, PublishResult

__all__ = ["CONTENT_TYPE", "HEADER_PREFIX", "encode_body", "gather_results", "headers_for",
           "in_key_order", "require", "split_options", "url_flag", "url_float"]

HEADER_PREFIX = "Pgkeel-"
CONTENT_TYPE = "application/json"


def require(module: str, *, extra: str, package: str) -> ModuleType:
    """Import an optional client library, or raise MissingExtra naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"This sink needs the {package} package, which is not installed.",
            details={"extra": extra, "package": package},
            hint=f"pip install 'pgkeel[{extra}]'") from exc


def split_options(url: str, names: Collection[str]) -> tuple[str, dict[str, str]]:
    """Take the sink's own settings (`?stream=...`) out of a broker URL: (URL for the client
    library, {name: value}). Other query parameters stay for the client library."""
    parts = urlsplit(url)
    ours: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in names:
            ours[name] = value
        else:
            theirs.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(theirs))), ours


@overload
def url_float(options: dict[str, str], name: str, default: float) -> float: ...
@overload
def url_float(options: dict[str, str], name: str, default: None) -> float | None: ...
def url_float(options: dict[str, str], name: str, default: float | None) -> float | None:
    """A number from the URL's options; ConfigError naming it when malformed."""
    if name not in options:
        return default
    try:
        return float(options[name])
    except ValueError:
        raise ConfigError(f"The sink URL's {name}={options[name]!r} is not a number.",
                          details={"option": name}) from None


def url_flag(options: dict[str, str], name: str, default: bool) -> bool:
    """A flag (true/false, 1/0, yes/no, on/off) from the URL's options."""
    raw = options.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"The sink URL's {name}={raw!r} is not true or false.",
                      details={"option": name})


def encode_body(message: OutboxMessage) -> bytes:
    """The event's payload as JSON (the body every broker sink sends)."""
    payload = message.payload if isinstance(message.payload, dict) else dict(message.payload)
    return orjson.dumps(payload)


def headers_for(message: OutboxMessage) -> dict[str, str]:
    """The event's own headers, then pgkeel's metadata headers (which the event cannot
    override): id, type, aggregate, and partition key, organization and creation time when
    set."""
    headers = dict(message.headers)
    ours = {
        "Event-Id": str(message.id),
        "Event-Type": message.event_type,
        "Aggregate-Type": message.aggregate_type,
        "Aggregate-Id": message.aggregate_id,
        "Partition-Key": message.partition_key,
        "Org-Id": message.org_id,
        "Created-At": None if message.created_at is None else message.created_at.isoformat(),
    }
    headers.update({HEADER_PREFIX + name: value for name, value in ours.items()
                    if value is not None})
    return headers


PublishWave = Callable[[Sequence[OutboxMessage]], Awaitable[Sequence[PublishResult]]]


async def in_key_order(messages: Sequence[OutboxMessage],
                       publish_wave: PublishWave) -> list[PublishResult]:
    """Publish `messages`, different partition keys concurrently, one key's events in order.

    Wave n holds the n-th event of every key (events without a key all go in the first wave),
    and `publish_wave` publishes a wave concurrently. A key's later event goes out only once
    its earlier one is acknowledged; when one fails, the key's later events in this batch are
    held back with a PublishFailed, so a broker never sees them out of order.
    """
    results: list[PublishResult] = [None] * len(messages)
    queues: dict[str, list[int]] = {}
    first: list[int] = []
    for index, message in enumerate(messages):
        if message.partition_key is None:
            first.append(index)
        else:
            queues.setdefault(message.partition_key, []).append(index)
    wave = first + [indexes.pop(0) for indexes in queues.values()]
    while wave:
        wave.sort()
        answers = await publish_wave([messages[i] for i in wave])
        if len(answers) != len(wave):   # pragma: no cover - a sink bug, not a broker's
            raise RuntimeError("a publish wave answered for another number of messages")
        for index, answer in zip(wave, answers, strict=True):
            results[index] = answer
        following: list[int] = []
        for index, answer in zip(wave, answers, strict=True):
            key = messages[index].partition_key
            if key is None or not queues.get(key):
                continue
            if answer is None:
                following.append(queues[key].pop(0))
            else:
                for held in queues.pop(key):
                    results[held] = PublishFailed(
                        "Held back: an earlier event of the same partition key was not"
                        " acknowledged.",
                        details={"event_id": str(messages[held].id), "reason": "held_back",
                                 "partition_key": key})
        wave = following
    return results


async def gather_results(calls: Sequence[Awaitable[object]]) -> list[PublishResult]:
    """Run the publish calls concurrently; None for each that returned, else its error."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    return [outcome if isinstance(outcome, BaseException) else None for outcome in outcomes]
