"""Invalidations that could not be delivered yet, kept until Redis is back.

Exact keys and tag generations are kept up to `max_items`. Past that the set coarsens: an
invalidation is widened to its organization's epoch, and recovery bumps that epoch, which
invalidates every key of the organization at once (a cold cache for it, never a stale one).
Beyond `max_items`, memory is bounded by the number of distinct organizations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pgkeel.cache.keys import StoreKey, epoch_of

__all__ = ["PendingBatch", "PendingInvalidations"]


@dataclass
class PendingBatch:
    keys: dict[str, StoreKey] = field(default_factory=dict)
    gen_keys: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.keys) + len(self.gen_keys)


class PendingInvalidations:
    """What recovery must apply before the cache reads from Redis again."""

    def __init__(self, max_items: int = 10_000) -> None:
        self.max_items = max_items
        self._batch = PendingBatch()
        self.coarsened = 0
        """How many invalidations were widened to their organization's epoch."""

    def add(self, keys: Iterable[StoreKey], gen_keys: Iterable[str]) -> None:
        batch = self._batch
        for item in keys:
            if item.value in batch.keys or len(batch) < self.max_items:
                batch.keys[item.value] = item
            else:
                batch.gen_keys.add(item.epoch)
                self.coarsened += 1
        for gen_key in gen_keys:
            epoch = epoch_of(gen_key)
            if gen_key == epoch or gen_key in batch.gen_keys or len(batch) < self.max_items:
                batch.gen_keys.add(gen_key)
            else:
                batch.gen_keys.add(epoch)
                self.coarsened += 1

    def take(self) -> PendingBatch:
        """Everything pending; `add` back what could not be delivered."""
        batch, self._batch = self._batch, PendingBatch()
        return batch

    def __len__(self) -> int:
        return len(self._batch)

    def __bool__(self) -> bool:
        return len(self._batch) > 0
