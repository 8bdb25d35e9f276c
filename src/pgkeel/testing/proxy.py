"""A TCP proxy a test controls: put it between a service and its server, then cut.

It runs its own event loop in a thread, so a test can block (stop a server, wait on a
subprocess) while the proxy keeps forwarding. Faults it injects:

- `cut_all()`: drop every open connection now (a network blip, a failover);
- `refuse(True)`: close new connections at once (the server looks down);
- `cut_at_commit(marker)`: on the connection whose client sent `marker` (a value unique to
  one request, such as an e-mail address), wait for its COMMIT and cut the connection
  either just before forwarding it (`forward=False`: the commit never happens) or just after
  (`forward=True`: it commits, but the client never hears so). Either way the client cannot
  know the outcome: the commit-unknown case.

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
        proxy.cut_at_commit(b"ada@example.com", forward=True)
        ...
        assert proxy.commit_cut.wait(10)
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field

__all__ = ["TcpProxy"]

_COMMIT = b"COMMIT\x00"
"""How COMMIT travels in a Query or Parse message: a NUL-terminated string."""
_PREPARED_COMMIT = re.compile(rb"P.{4}([^\x00]+)\x00COMMIT\x00", re.DOTALL)
"""A Parse message preparing COMMIT under a name (psycopg prepares frequent statements)."""


@dataclass
class _CommitTrap:
    marker: bytes
    forward: bool


@dataclass
class _Link:
    """One proxied connection's state."""

    marked: bool = False
    """Its client sent the armed trap's marker."""
    silenced: bool = False
    """Nothing more goes back to its client (the trap fired)."""
    commit_names: set[bytes] = field(default_factory=set)
    """Names under which its client prepared COMMIT."""

    def is_commit(self, data: bytes) -> bool:
        """Whether client bytes `data` carry a COMMIT: as a query, or as a Bind of a prepared
        COMMIT (learning the names of prepared COMMITs on the way)."""
        if _COMMIT in data:
            prepared = {m.group(1) for m in _PREPARED_COMMIT.finditer(data)}
            self.commit_names |= prepared
            if not prepared or data.count(_COMMIT) > len(prepared):
                return True
        return any(re.search(rb"B.{4}\x00" + re.escape(name) + rb"\x00", data, re.DOTALL)
                   for name in self.commit_names)


class TcpProxy:
    """Forward 127.0.0.1:`port` to `host`:`target_port` (see the module docstring)."""

    def __init__(self, host: str, target_port: int) -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        self.commit_cut = threading.Event()
        """Set once a `cut_at_commit` trap has fired."""
        self.connections_cut = 0
        self._refusing = False
        self._trap: _CommitTrap | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="pgkeel-tcp-proxy")
        self._server: asyncio.Server | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- faults ----------------------------------------------------------------------------

    def cut_all(self) -> int:
        """Close every open connection (both sides); returns how many pairs were cut."""
        return asyncio.run_coroutine_threadsafe(self._cut_all(), self._loop).result(10)

    def refuse(self, refusing: bool) -> None:
        """While refusing, new connections are closed as soon as they are accepted."""
        self._refusing = refusing

    def cut_at_commit(self, marker: bytes, *, forward: bool) -> None:
        """Arm the trap described in the module docstring (one shot)."""
        self.commit_cut.clear()
        self._trap = _CommitTrap(marker, forward)

    # -- internals ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut_all()

    async def _cut_all(self) -> int:
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()
        self._writers.clear()
        cut = len(writers) // 2
        self.connections_cut += cut
        return cut

    async def _serve(self, client_r: asyncio.StreamReader,
                     client_w: asyncio.StreamWriter) -> None:
        if self._refusing:
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        self._writers.update((client_w, server_w))
        link = _Link()
        await asyncio.gather(self._pump(client_r, server_w, client_w, link, upstream=True),
                             self._pump(server_r, client_w, server_w, link, upstream=False))
        self._writers.difference_update((client_w, server_w))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    other: asyncio.StreamWriter, link: _Link, *, upstream: bool) -> None:
        try:
            while data := await reader.read(65536):
                if link.silenced:
                    return
                trap = self._trap if upstream else None
                commit = upstream and link.is_commit(data)
                if trap is not None:
                    if trap.marker in data:
                        link.marked = True
                    if link.marked and commit:
                        self._trap = None
                        link.silenced = True
                        if trap.forward:
                            writer.write(data)
                            await writer.drain()
                            # Let the server receive it before the connection goes.
                            await asyncio.sleep(0.05)
                        self.commit_cut.set()
                        writer.transport.abort()
                        other.transport.abort()
                        return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            other.transport.abort()
