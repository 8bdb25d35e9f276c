"""Interleaved rounds: every contender of a scenario runs in every round, in a rotated order,
so machine noise (two cores shared with PostgreSQL, Redis and whatever else runs) hits all of
them alike. Operations run one at a time; each is timed on its own with `perf_counter_ns`.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Contender", "Sample", "Scenario", "percentile", "run_scenario", "summarize"]

OpFn = Callable[[int], Awaitable[object]]
HookFn = Callable[[int], Awaitable[None]]


@dataclass
class Contender:
    """One way of doing the scenario's work. `op(i)` is timed; `before(i)` (per operation) and
    `after_block()` (after each contender's block) are not."""

    name: str
    op: OpFn
    before: HookFn | None = None
    after_block: Callable[[], Awaitable[None]] | None = None


@dataclass
class Scenario:
    name: str
    description: str
    contenders: list[Contender]
    max_ops: int | None = None
    """A cap below the profile's (slow operations such as bulk inserts)."""
    min_ops: int | None = None


@dataclass
class Sample:
    """Every timed operation of one contender in one scenario, in nanoseconds."""

    scenario: str
    contender: str
    durations_ns: list[int] = field(default_factory=list)
    peak_rss_mb: float | None = None
    wall_s: float = 0.0
    """Wall time of the operations (for ops/s); HTTP runs set it from the load generator."""
    ops_override: int | None = None

    def add(self, ns: int) -> None:
        self.durations_ns.append(ns)
        self.wall_s += ns / 1e9


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of unsorted values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(sample: Sample) -> dict[str, object]:
    """One `results` entry: median, p95, p99 (ms), ops/s, peak RSS (MB or null)."""
    ms = [d / 1e6 for d in sample.durations_ns]
    ops = sample.ops_override if sample.ops_override is not None else len(ms)
    return {
        "scenario": sample.scenario,
        "contender": sample.contender,
        "median_ms": round(statistics.median(ms), 4) if ms else None,
        "p95_ms": round(percentile(ms, 95), 4) if ms else None,
        "p99_ms": round(percentile(ms, 99), 4) if ms else None,
        "ops_per_s": round(ops / sample.wall_s, 2) if sample.wall_s > 0 else None,
        "peak_rss_mb": None if sample.peak_rss_mb is None else round(sample.peak_rss_mb, 1),
    }


async def _block(contender: Contender, start: int, count: int, sample: Sample | None) -> None:
    gc.collect()  # nobody pays for the previous contender's garbage
    for i in range(start, start + count):
        if contender.before is not None:
            await contender.before(i)
        began = time.perf_counter_ns()
        await contender.op(i)
        elapsed = time.perf_counter_ns() - began
        if sample is not None:
            sample.add(elapsed)
    if contender.after_block is not None:
        await contender.after_block()


async def run_scenario(scenario: Scenario, *, rounds: int, block_s: float, min_ops: int,
                       max_ops: int, log: Callable[[str], None] = print) -> list[Sample]:
    """Warm every contender up (untimed), size the blocks from the slowest one, then run
    `rounds` interleaved rounds. Every contender gets the same operation indices."""
    low = scenario.min_ops or min_ops
    high = min(max_ops, scenario.max_ops or max_ops)
    slowest = 0.0
    for contender in scenario.contenders:  # warm-up: prepared statements, pools, caches
        warm = Sample(scenario.name, contender.name)
        await _block(contender, 10_000_000, max(3, min(low * 2, high)), warm)
        slowest = max(slowest, statistics.median(warm.durations_ns) / 1e9)
    ops = high if slowest <= 0 else max(low, min(high, int(block_s / slowest)))
    samples = {c.name: Sample(scenario.name, c.name) for c in scenario.contenders}
    count = len(scenario.contenders)
    for r in range(rounds):
        order = [scenario.contenders[(r + k) % count] for k in range(count)]
        for contender in order:
            await _block(contender, r * ops, ops, samples[contender.name])
    medians = ", ".join(
        f"{name} {statistics.median(s.durations_ns) / 1e6:.3f}" for name, s in samples.items()
        if s.durations_ns)
    log(f"  {scenario.name}: {ops} ops x {rounds} rounds; median ms: {medians}")
    return list(samples.values())
