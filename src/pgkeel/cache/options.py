"""The cache's knobs, one dataclass; `from_settings` reads them from `CACHE_*` variables."""

from __future__ import annotations

from dataclasses import dataclass

from pgkeel.config import Settings

__all__ = ["CacheOptions"]


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """How a `Cache` behaves. Most fields have a `CACHE_*` setting (see docs/cache.md)."""

    prefix: str = "pgkeel:"
    """Prepended to every Redis key (CACHE_PREFIX); tests use a prefix of their own."""
    name: str = "default"
    """Label of this cache's breaker and pending gauges."""
    default_ttl_s: float = 60.0
    """TTL when a call gives none (CACHE_TTL_SECS). +/-`jitter` is applied to every TTL."""
    negative_ttl_s: float = 15.0
    """TTL of a cached "not found" (a loader returning None) (CACHE_NEGATIVE_TTL_SECS)."""
    jitter: float = 0.1
    """Relative TTL jitter: 0.1 stores each TTL as a uniform draw in [0.9, 1.1] x TTL."""
    leases: bool = True
    """Guard fills with leases (Facebook's design). Off only to demonstrate the race."""
    lease_ttl_s: float = 10.0
    """How long a miss holds its lease; a fill after that is rejected (CACHE_LEASE_TTL_S)."""
    lease_wait_s: float = 0.5
    """How long a miss waits for another process's fill before taking the lease over and
    loading itself (CACHE_LEASE_WAIT_S); the slow holder's fill is then rejected."""
    xfetch_beta: float = 1.0
    """XFetch early-refresh eagerness; 0 disables early refresh (CACHE_XFETCH_BETA)."""
    op_timeout_s: float = 0.25
    """Per-call time limit on Redis; past it the call counts as failed (CACHE_OP_TIMEOUT_S)."""
    breaker_failures: int = 5
    """Consecutive failed calls that open the breaker (CACHE_BREAKER_FAILURES)."""
    breaker_reset_s: float = 2.0
    """How long the breaker stays open before a probe (CACHE_BREAKER_RESET_S)."""
    max_pending: int = 10_000
    """Exact pending invalidations kept during an outage; beyond that they coarsen to the
    organization's epoch (CACHE_MAX_PENDING)."""
    stats_flush_s: float = 10.0
    """How often this process adds its counters to the service-wide totals in Redis
    (CACHE_STATS_FLUSH_S)."""
    max_key_length: int = 250
    """Keys longer than this are hashed (CACHE_MAX_KEY_LENGTH)."""
    l1_ttl_s: float = 0.0
    """Two-tier: > 0 keeps an in-process L1 in front of Redis whose entries live at most
    this long (CACHE_L1_TTL_S); 0 disables L1."""
    l1_max_entries: int = 10_000
    """L1 capacity (LRU) (CACHE_L1_MAX_ENTRIES)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> CacheOptions:
        return cls(
            prefix=settings.cache_prefix,
            default_ttl_s=float(settings.cache_ttl_secs),
            negative_ttl_s=float(settings.cache_negative_ttl_secs),
            lease_ttl_s=settings.cache_lease_ttl_s,
            lease_wait_s=settings.cache_lease_wait_s,
            xfetch_beta=settings.cache_xfetch_beta,
            op_timeout_s=settings.cache_op_timeout_s,
            breaker_failures=settings.cache_breaker_failures,
            breaker_reset_s=settings.cache_breaker_reset_s,
            max_pending=settings.cache_max_pending,
            stats_flush_s=settings.cache_stats_flush_s,
            max_key_length=settings.cache_max_key_length,
            l1_ttl_s=settings.cache_l1_ttl_s,
            l1_max_entries=settings.cache_l1_max_entries,
        )
