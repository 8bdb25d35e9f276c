"""The /ops page's history: a background task in the service's lifespan samples the service
every OPS_HISTORY_EVERY_S seconds into `app.state.ops_history` (the last hour)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from pgkeel.ops.history import CacheTotals, History, run_sampler, sample
from pgkeel.runtime import Services

__all__ = ["ops_sampler", "run_ops_sampler"]


@asynccontextmanager
async def run_ops_sampler(app: FastAPI, services: Services, *, window_s: float = 3600.0
                          ) -> AsyncIterator[History]:
    """Sample the service into `app.state.ops_history` until the block ends. The audit
    appender is looked up at each sample (`app.state.audit_appender`), so it may start
    later."""
    history = History(every_s=services.settings.ops_history_every_s, window_s=window_s)
    app.state.ops_history = history
    totals = CacheTotals()

    async def take() -> dict[str, float | None]:
        return await sample(services.db, cache=services.cache, cache_totals=totals,
                            appender=getattr(app.state, "audit_appender", None))

    async with run_sampler(history, take):
        yield history


def ops_sampler(*, window_s: float = 3600.0
                ) -> Callable[[FastAPI, Services], AbstractAsyncContextManager[None]]:
    """A `then=` hook for `pgkeel_lifespan` running `run_ops_sampler`."""

    @asynccontextmanager
    async def hook(app: FastAPI, services: Services) -> AsyncIterator[None]:
        async with run_ops_sampler(app, services, window_s=window_s):
            yield

    return hook
