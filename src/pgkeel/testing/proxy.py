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
import struct
import threading
from dataclasses import dataclass, field

__all__ = ["TcpProxy"]

_UNTYPED_CODES = {80877103, 80877104}
"""SSLRequest and GSSENCRequest: untyped messages after which the startup message follows."""
_MAX_UNTYPED = 10_000
"""A startup-phase length larger than this is not PostgreSQL's: stop reading messages."""


@dataclass
class _CommitTrap:
    marker: bytes
    forward: bool


@dataclass
class _Link:
    """One proxied connection's state, and a reader of the messages its client sends.

    The client's bytes are split into protocol messages (type byte, then a length) before
    anything is decided, so a marker or a COMMIT split across two TCP reads, or sent in a
    pipeline with other messages, is seen all the same.
    """

    marked_by: _CommitTrap | None = None
    """The armed trap whose marker its client sent (a marker seen for an earlier trap does
    not count: that connection may since serve other requests)."""
    silenced: bool = False
    """Nothing more goes back to its client (the trap fired on its COMMIT)."""
    commit_names: set[bytes] = field(default_factory=set)
    """Names under which its client prepared COMMIT."""
    started: bool = False
    """The startup message has passed; typed messages follow."""
    opaque: bool = False
    """The stream is not readable (TLS, or not PostgreSQL): forward it as it comes."""
    ssl_requested: bool = False
    firing: _CommitTrap | None = None
    """The trap its COMMIT sprang (forwarding: the cut waits for the COMMIT's Sync)."""
    sent_commit: bool = False
    """The COMMIT went as a simple Query: nothing more needs to follow it."""
    buffer: bytearray = field(default_factory=bytearray)

    def messages(self, data: bytes) -> tuple[list[bytes], bytes]:
        """The complete messages `data` finishes, and the bytes they span (the rest waits
        for the next read). Once opaque, `data` comes back whole as one message."""
        if self.opaque:
            return [data], data
        self.buffer += data
        found: list[bytes] = []
        offset = 0
        while not self.opaque:
            if self.started:
                if len(self.buffer) - offset < 5:
                    break
                size = 1 + struct.unpack_from("!I", self.buffer, offset + 1)[0]
            else:
                if len(self.buffer) - offset < 8:
                    break
                size, code = struct.unpack_from("!II", self.buffer, offset)
                if not 8 <= size <= _MAX_UNTYPED:
                    self.opaque = True
                    break
            if len(self.buffer) - offset < size:
                break
            message = bytes(self.buffer[offset:offset + size])
            if not self.started:
                if code in _UNTYPED_CODES:
                    self.ssl_requested = code == 80877103
                else:
                    self.started = True
            found.append(message)
            offset += size
        if self.opaque:  # forward everything from here on untouched
            span, self.buffer = bytes(self.buffer), bytearray()
            return [*found, span[offset:]], span
        span = bytes(self.buffer[:offset])
        del self.buffer[:offset]
        return found, span

    def server_said(self, data: bytes) -> None:
        """The server accepted TLS: what follows cannot be read."""
        if self.ssl_requested and not self.started:
            self.ssl_requested = False
            self.opaque = data[:1] == b"S"

    def is_commit(self, message: bytes) -> bool:
        """Whether one client message runs COMMIT: as a simple Query, an unnamed Parse of it,
        or the Bind of a statement prepared as COMMIT (learning those names on the way)."""
        if not self.started or self.opaque or not message:
            return False
        kind, body = message[:1], message[5:]
        if kind == b"Q":
            return body.rstrip(b"\x00").strip().rstrip(b";").upper() == b"COMMIT"
        if kind == b"P":
            name, _, rest = body.partition(b"\x00")
            query = rest.partition(b"\x00")[0].strip().rstrip(b";").upper()
            if name:
                if query == b"COMMIT":
                    self.commit_names.add(name)
                else:
                    self.commit_names.discard(name)
                return False
            return query == b"COMMIT"
        if kind == b"B":
            statement = body.split(b"\x00", 2)[1] if body.count(b"\x00") >= 2 else b""
            return bool(statement) and statement in self.commit_names
        return False


class TcpProxy:
    """Forward 127.0.0.1:`port` to `host`:`target_port` (see the module docstring)."""

    def __init__(self, host: str, target_port: int) -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        self.commit_cut = threading.Event()
        """Set once a `cut_at_commit` trap has fired."""
        self.fired_on = ""
        """The protocol messages (type letters) of the read in which the trap last fired, its
        COMMIT in brackets: what to look at when a test's outcome surprises."""
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
                if not upstream:
                    if link.silenced:
                        continue  # the trap fired: the client hears nothing more
                    link.server_said(data)
                    writer.write(data)
                    await writer.drain()
                    continue
                messages, span = link.messages(data)
                if await self._spring(messages, span, writer, other, link):
                    return
                if span and link.firing is None:
                    writer.write(span)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            other.transport.abort()

    async def _spring(self, messages: list[bytes], span: bytes, writer: asyncio.StreamWriter,
                      other: asyncio.StreamWriter, link: _Link) -> bool:
        """Look at the client's messages (always: prepared COMMIT names are learned on every
        connection); fire the armed trap when its marked connection sends COMMIT. Returns
        whether the connection was cut."""
        trap = self._trap
        if link.firing is None:
            for index, message in enumerate(messages):
                if trap is not None and trap.marker in message:
                    link.marked_by = trap
                commit = link.is_commit(message)
                if commit and trap is not None and link.marked_by is trap:
                    self._trap = None
                    link.firing = trap
                    # From here on no answer reaches the client: not the COMMIT's, nor one
                    # the server sends before the rest of the COMMIT's messages arrive.
                    link.silenced = True
                    link.sent_commit = message[:1] == b"Q"
                    kinds = [m[:1].decode("latin-1") for m in messages]
                    kinds[index] = f"[{kinds[index]}]"
                    self.fired_on = "".join(kinds)
                    messages = messages[index:]
                    break
            else:
                return False
        trap = link.firing
        if not trap.forward:
            self.commit_cut.set()
            writer.transport.abort()
            other.transport.abort()
            return True
        # Everything the client sent with the COMMIT goes too, up to the Sync (or Flush) that
        # ends an extended-protocol COMMIT (its Execute may come in a later read).
        writer.write(span)
        await writer.drain()
        if not (link.sent_commit or any(m[:1] in (b"S", b"H") for m in messages)):
            return False
        # Let the server receive it before the connection goes.
        await asyncio.sleep(0.05)
        self.commit_cut.set()
        writer.transport.abort()
        other.transport.abort()
        return True
