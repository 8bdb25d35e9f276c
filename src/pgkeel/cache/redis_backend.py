"""The Redis (or Valkey) backend: every operation is one round trip.

A hit is one `MGET` (the value, the org epoch, the caller's tag generations) checked in the
client, sent on a few connections of the backend's own without redis-py's per-command layers
(`redis_lane`); everything else is one Lua script call. The client is redis-py's asyncio client
(hiredis parses replies when installed). Scripts are called by SHA and loaded on NOSCRIPT, so
a restarted server needs no ceremony. Invalidations are grouped by hash slot (`{org}`): one
slot is one script call; several are one pipeline.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from pgkeel.cache import scripts
from pgkeel.cache.backend import LeaseMode, ReadResult, ReadStatus
from pgkeel.cache.keys import StoreKey
from pgkeel.cache.redis_lane import MgetLane

__all__ = ["RedisBackend", "slot_of"]


def slot_of(key: str) -> str:
    """The hash tag of a key (`{...}`), or the key itself when it has none."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


class _Script:
    """A Lua script called by SHA, loaded on NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 -- Redis's own id

    async def __call__(self, client: Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await client.script_load(self.source)
            return await client.evalsha(self.sha, len(keys), *keys, *args)


_READ = _Script(scripts.READ)
_READ_ATTEMPTS = 3
_FILL = _Script(scripts.FILL)
_WRITE = _Script(scripts.WRITE)
_INVALIDATE = _Script(scripts.INVALIDATE)
_RELEASE = _Script(scripts.RELEASE)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _checked(data: bytes, replies: list[Any], tags: tuple[str, ...]
             ) -> ReadResult | tuple[str, ...] | None:
    """A stored value checked against the current epoch (`replies[1]`) and generations of
    the named tags (`replies[2:]`): the hit when it is valid, None when it is not, and the
    tag keys it was stored with when one of them is not among `tags` (READ, naming them,
    finds out)."""
    if data.startswith(b"L0 "):  # live, stored with no tag: the header is `L0 <epoch>\n`
        end = data.find(b"\n", 3)
        if end > 3:
            valid = data[3:end] == (replies[1] or b"0")
            return ReadResult(ReadStatus.HIT, value=data[end + 1:]) if valid else None
    parsed = scripts.parse_header(data)
    if parsed is None:
        return None
    live, epoch, stored, gens, start = parsed
    if not live or epoch != (replies[1] or b"0"):
        return None
    names = tuple(k.decode() for k in stored)
    for name, gen in zip(names, gens, strict=True):
        if name not in tags:
            return names
        if (replies[2 + tags.index(name)] or b"0") != gen:
            return None
    return ReadResult(ReadStatus.HIT, value=data[start:], tag_keys=names)


class RedisBackend:
    """Leases, generations and envelopes in Redis. `publish_channel` makes every
    invalidation also PUBLISH its keys (used by the two-tier backend's L1)."""

    name = "redis"

    def __init__(self, client: Redis, *, owns_client: bool = False,
                 publish_channel: str | None = None, origin: str = "",
                 hit_connections: int = 8) -> None:
        self.client = client
        self._lane = MgetLane(client, hit_connections)
        """The hit's `MGET` on connections of the backend's own (see `redis_lane`); 0 sends
        it through the client."""
        self._cluster = isinstance(client, RedisCluster)
        self._owns_client = owns_client
        self._channel = publish_channel or ""
        self._origin = origin

    async def read(self, key: StoreKey, mode: LeaseMode, token: str,
                   lease_ttl_ms: int) -> ReadResult:
        """A plain read or a look-aside read starts with one `MGET` of the value, the epoch
        and the named tags' generations: a valid value is the answer. Anything else -- and
        every forced or stealing read -- is READ's, which takes or reports the lease."""
        stored: tuple[str, ...] = ()
        if mode <= LeaseMode.ON_MISS:
            replies: list[Any] | None = None
            if self._lane.size and key.mget:
                replies = await self._lane.mget(key.mget)
            if replies is None:  # no lane (or all its connections busy): the client's
                through_client: list[Any] = await self.client.mget(key.value, key.epoch,
                                                                   *key.tags)
                replies = through_client
            checked = None if replies[0] is None else _checked(replies[0], replies, key.tags)
            if isinstance(checked, ReadResult):
                return checked
            if checked is None and mode is LeaseMode.NONE:
                return ReadResult(ReadStatus.MISS)
            stored = checked or ()
        return await self._read(key, mode, token, lease_ttl_ms, stored)

    async def _read(self, key: StoreKey, mode: LeaseMode, token: str, lease_ttl_ms: int,
                    stored_tags: tuple[str, ...] = ()) -> ReadResult:
        """READ, naming the caller's tags and `stored_tags` (those the value was seen stored
        with), so that a value stored with other tags is answered in one call."""
        tags = (*key.tags, *(t for t in stored_tags if t not in key.tags))
        for _ in range(_READ_ATTEMPTS):
            reply = await _READ(self.client, (key.value, key.lease, key.epoch, *tags),
                                (int(mode), token, lease_ttl_ms))
            if int(reply[0]) != scripts.NEEDS_TAGS:
                break
            # The value depends on tags this call did not name: name them too, and ask again.
            tags = (*key.tags, *(t for t in map(_text, reply[2]) if t not in key.tags))
        else:
            return ReadResult(ReadStatus.MISS)  # its tags kept changing under us: a miss
        status = ReadStatus(int(reply[0]))
        data = reply[1]
        stored = tuple(_text(k) for k in reply[2])
        # The epoch and the generations of the caller's own tags (a fill checks those).
        gens = tuple(_text(g) for g in reply[3:4 + len(key.tags)])
        if status in (ReadStatus.HIT, ReadStatus.HIT_LEASED):
            return ReadResult(status, value=data, gens=gens, tag_keys=stored)
        return ReadResult(status, stale=data, gens=gens)

    async def fill(self, key: StoreKey, data: bytes, ttl_ms: int, token: str,
                   gens: Sequence[str]) -> bool:
        stored = scripts.header(gens[0], key.tags, gens[1:]) + data
        done = await _FILL(self.client, (key.value, key.lease, key.epoch, *key.tags),
                           (token, ttl_ms, stored, *gens))
        return bool(done)

    async def release(self, key: StoreKey, token: str) -> None:
        await _RELEASE(self.client, (key.lease,), (token,))

    async def write(self, key: StoreKey, data: bytes, ttl_ms: int) -> None:
        await _WRITE(self.client, (key.value, key.lease, key.epoch, *key.tags),
                     (ttl_ms, data, self._channel, self._message([key.value], [])))

    async def invalidate(self, keys: Sequence[StoreKey], gen_keys: Sequence[str]) -> None:
        by_slot: dict[str, tuple[list[StoreKey], list[str]]] = {}
        for item in keys:
            by_slot.setdefault(slot_of(item.value), ([], []))[0].append(item)
        for gen_key in gen_keys:
            by_slot.setdefault(slot_of(gen_key), ([], []))[1].append(gen_key)
        calls = [self._invalidate_call(slot_keys, slot_gens)
                 for slot_keys, slot_gens in by_slot.values()]
        if len(calls) == 1:
            await _INVALIDATE(self.client, *calls[0])
        elif calls and self._cluster:
            # A cluster pipeline refuses scripts: one call per slot, all at once (the slots
            # live on different nodes anyway).
            await asyncio.gather(*(_INVALIDATE(self.client, *call) for call in calls))
        elif calls:
            await self._pipelined(calls)

    def _invalidate_call(self, keys: list[StoreKey],
                         gen_keys: list[str]) -> tuple[list[str], list[Any]]:
        names: list[str] = []
        for item in keys:
            names += (item.value, item.lease)
        names += gen_keys
        message = self._message([k.value for k in keys], gen_keys)
        return names, [len(keys), self._channel, message]

    def _message(self, value_keys: list[str], gen_keys: list[str]) -> bytes:
        """What two-tier caches' L1s must drop; empty when nobody listens."""
        if not self._channel:
            return b""
        return orjson.dumps({"o": self._origin, "k": value_keys, "g": gen_keys})

    async def _pipelined(self, calls: list[tuple[list[str], list[Any]]]) -> None:
        """Several INVALIDATE calls in one round trip (reloading the script once if needed)."""
        for attempt in range(2):
            async with self.client.pipeline(transaction=False) as pipe:
                for names, args in calls:
                    pipe.evalsha(_INVALIDATE.sha, len(names), *names, *args)
                results = await pipe.execute(raise_on_error=False)
            errors = [r for r in results if isinstance(r, Exception)]
            if not errors:
                return
            if attempt == 0 and all(isinstance(e, NoScriptError) for e in errors):
                await self.client.script_load(_INVALIDATE.source)
                continue  # bumping a generation twice is harmless
            raise errors[0]

    async def ping(self) -> None:
        await self.client.ping()

    async def reset(self) -> None:
        await self._lane.reset()
        client: Any = self.client
        if isinstance(client, RedisCluster):
            for node in client.get_nodes():
                await node.disconnect()
            return
        await self.client.connection_pool.disconnect(inuse_connections=True)

    async def add_counters(self, counters: Mapping[str, int], stats_key: str) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for field, amount in counters.items():
                pipe.hincrby(stats_key, field, amount)
            await pipe.execute()

    async def aclose(self) -> None:
        await self._lane.aclose()
        if self._owns_client:
            await self.client.aclose()
