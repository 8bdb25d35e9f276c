"""A load loop of concurrent HTTP clients with a client-side ledger of every call.

Each worker creates users through `POST /v1/users`, every one with an Idempotency-Key of its
own, and reads back what it created. A create that did not get its 201 (a 503, a lost
connection, a 409 "still in flight") is retried with the same key and body, so the ledger
knows, for every key, every answer it got. `settle()` then drives every unfinished key to its
201, and the tests compare the ledger with the database: one user per key, never two.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

REQUEST_TIMEOUT_S = 15.0
"""The client's timeout: a request still unanswered after this long is a hang."""

IN_FLIGHT = "idempotency_key_in_flight"
"""409 code: a retry found its key still leased (by a request whose COMMIT outcome was
unknown, or that is still running): retry later."""


@dataclass
class Call:
    """One HTTP request and what came back."""

    kind: str
    key: str | None
    sent: float
    answered: float = 0.0
    status: int | None = None
    code: str | None = None
    retry_after: str | None = None
    replayed: bool = False
    """The answer was a stored one (Idempotent-Replayed: true)."""
    error: str | None = None
    """The client-side failure (`ConnectError`, `ReadTimeout`, ...) when there was no answer."""
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Create:
    """One logical create: its key, its body, and the user id of its 201s."""

    key: str
    body: dict[str, Any]
    user_ids: set[str] = field(default_factory=set)
    done: bool = False


class Load:
    """`clients` workers against `base_url` as `token`'s user (see the module docstring)."""

    def __init__(self, base_url: str, token: str, *, clients: int = 16, tag: str = "load",
                 reads: bool = True, pause_s: float = 0.0) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.clients = clients
        self.tag = tag
        self.reads = reads
        self.pause_s = pause_s
        self.calls: list[Call] = []
        self.creates: dict[str, Create] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    # -- running -----------------------------------------------------------------------------

    async def __aenter__(self) -> Load:
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_connections=self.clients * 2))
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self.clients)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
        if self._client is not None:
            await self._client.aclose()

    async def switch(self, base_url: str) -> None:
        """Send the next requests to another instance of the service."""
        if self._client is not None:
            await self._client.aclose()
        self.base_url = base_url
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_connections=self.clients * 2))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self._tasks = []

    async def wait_for(self, ok: int, *, since: float = 0.0, timeout_s: float = 60.0) -> None:
        """Until `ok` creates have been answered 201 after `since`."""
        deadline = time.monotonic() + timeout_s
        while self.successes(since) < ok:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.successes(since)} of {ok} creates succeeded "
                                     f"in {timeout_s:.0f}s: {self.summary()}")
            await asyncio.sleep(0.05)

    async def wait_for_status(self, status: int, count: int, *, since: float,
                              timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while sum(1 for c in self.calls if c.sent >= since and c.status == status) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {count} answers {status}: {self.summary()}")
            await asyncio.sleep(0.05)

    async def _worker(self, worker: int) -> None:
        while not self._stop.is_set():
            name = f"{self.tag}-{worker}-{uuid.uuid4().hex[:12]}"
            create = Create(str(uuid.uuid4()), {"email": f"{name}@faults.example",
                                                "displayName": name})
            self.creates[create.key] = create
            while not create.done and not self._stop.is_set():
                call = await self.create(create)
                if call.status == 201 and self.reads:
                    await self.read(next(iter(create.user_ids)))
                elif not create.done:
                    await asyncio.sleep(0.2)
            if self.pause_s:
                await asyncio.sleep(self.pause_s)

    # -- calls -------------------------------------------------------------------------------

    async def create(self, create: Create) -> Call:
        call = await self._send("create", "POST", "/v1/users", key=create.key,
                                json=create.body)
        if call.status == 201:
            create.user_ids.add(str(call.body["id"]))
            create.done = True
        elif call.status is not None and call.status != 503 and call.code != IN_FLIGHT:
            create.done = True  # an answer that a retry will only repeat
        return call

    async def read(self, user_id: str) -> Call:
        return await self._send("read", "GET", f"/v1/users/{user_id}")

    async def _send(self, kind: str, method: str, path: str, *, key: str | None = None,
                    json: dict[str, Any] | None = None) -> Call:
        assert self._client is not None
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        call = Call(kind, key, time.monotonic())
        self.calls.append(call)
        try:
            response = await self._client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            call.error = type(exc).__name__
        else:
            call.status = response.status_code
            call.retry_after = response.headers.get("retry-after")
            call.replayed = response.headers.get("idempotent-replayed") == "true"
            try:
                call.body = response.json() if response.content else {}
            except ValueError:
                call.body = {"unparsed": response.text[:200]}
            call.code = call.body.get("code") if response.status_code >= 400 else None
        call.answered = time.monotonic()
        return call

    async def settle(self, timeout_s: float = 60.0) -> None:
        """Retry every unfinished create with its own key and body until it has its 201."""
        assert self._client is not None
        deadline = time.monotonic() + timeout_s
        pending = [c for c in self.creates.values() if not c.done]
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} creates never completed: "
                                     f"{self.summary()}")
            await asyncio.gather(*(self.create(c) for c in pending))
            pending = [c for c in pending if not c.done]
            if pending:
                await asyncio.sleep(0.5)

    # -- what happened -----------------------------------------------------------------------

    def successes(self, since: float = 0.0) -> int:
        return sum(1 for c in self.calls
                   if c.kind == "create" and c.status == 201 and c.sent >= since)

    def first_success_after(self, moment: float) -> float | None:
        """When the first request sent after `moment` was answered 2xx."""
        times = [c.answered for c in self.calls
                 if c.sent >= moment and c.status is not None and c.status < 300]
        return min(times) if times else None

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        return Counter(str(c.status) if c.status is not None else c.error or "none"
                       for c in self.calls if since <= c.sent <= until)

    def summary(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses().items()))

    def hangs(self) -> list[Call]:
        return [c for c in self.calls if c.error is not None and "Timeout" in c.error]

    def server_errors(self, allowed: frozenset[int] = frozenset({503})) -> list[Call]:
        """5xx answers other than `allowed`."""
        return [c for c in self.calls if c.status is not None and c.status >= 500
                and c.status not in allowed]

    def emails(self) -> list[str]:
        return [c.body["email"] for c in self.creates.values()]
