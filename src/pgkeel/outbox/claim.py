"""Which claimed events a batch may publish, and the messages the relay builds from them.

The claim (`queries.CLAIM`) returns due candidates, each with the `seq` of its key's last
unpublished event before it (`before`). A key's candidates may go out only from the key's head
and without a gap; the others are pushed back. Each claimed event becomes a `ClaimedMessage`
carrying its rank among its key's events in the batch, which orders the relay's waves.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from pgkeel.outbox.sink import ClaimedMessage, claimed

__all__ = ["uuid_array", "verdicts"]


# Most events have no headers: they share one empty, read-only mapping (one object fewer per
# event for the garbage collector to track).
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def verdicts(rows: list[tuple[Any, ...]]) -> tuple[list[ClaimedMessage], list[str]]:
    """The claimed events (each with its rank among its key's events), in claim order, and
    the ids of the candidates to push back: a key's candidates, in `seq` order, are claimed
    while each one's `before` is the previous one's seq (NULL for the first: the key's head)."""
    firsts: dict[str, tuple[Any, ...]] = {}
    runs: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        key = row[6]
        if key is None:
            continue
        if key in runs:
            runs[key].append(row)
        elif key in firsts:
            runs[key] = [firsts.pop(key), row]
        else:
            firsts[key] = row
    ranks: dict[str, int] = {}
    blocked: list[str] = []
    for row in firsts.values():
        if row[12] is None:
            ranks[row[0]] = 1
        else:
            blocked.append(row[0])
    for run in runs.values():
        run.sort(key=_seq)
        previous = None
        for rank, row in enumerate(run, 1):
            if previous is not False and row[12] == previous:
                ranks[row[0]] = rank
                previous = row[11]
            else:
                blocked.append(row[0])
                previous = False
    claimed = [_message(row, 1 if row[6] is None else ranks[row[0]])
               for row in rows if row[6] is None or row[0] in ranks]
    return claimed, blocked


def _seq(row: tuple[Any, ...]) -> int:
    return int(row[11])


def _message(row: tuple[Any, ...], rank: int) -> ClaimedMessage:
    (id_text, event_type, aggregate_type, aggregate_id, payload, headers, key, org_id,
     created_at, attempts, max_attempts, _, _) = row
    return claimed(id_text, payload, rank=rank, max_attempts=max_attempts,
                   event_type=event_type, aggregate_type=aggregate_type,
                   aggregate_id=aggregate_id,
                   headers=_NO_HEADERS if headers is None else orjson.loads(headers),
                   partition_key=key, org_id=org_id, created_at=created_at,
                   attempts=attempts + 1)


def uuid_array(ids: list[str]) -> str:
    return "{" + ",".join(ids) + "}"
