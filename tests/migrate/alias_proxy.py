"""A one-purpose stand-in for a pooler's database alias: a TCP proxy that rewrites the
`database` of each PostgreSQL startup message, so the client's name differs from the server's."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

_NEGOTIATIONS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: answered "no"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


def _rewrite(body: bytes, database: str) -> bytes:
    """The startup message `body` (after its length) with `database` set."""
    version, rest = body[:4], body[4:].split(b"\0")
    pairs = dict(zip(rest[0::2], rest[1::2], strict=False))
    pairs.pop(b"", None)
    pairs[b"database"] = database.encode()
    payload = version + b"".join(k + b"\0" + v + b"\0" for k, v in pairs.items()) + b"\0"
    return struct.pack("!I", len(payload) + 4) + payload


@contextlib.asynccontextmanager
async def alias_proxy(host: str, port: int, database: str) -> AsyncIterator[int]:
    """Listen on a free local port (yielded); every connection reaches `database` on
    `host:port`, whatever database the client asked for."""
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while True:
            (length,) = struct.unpack("!I", await reader.readexactly(4))
            body = await reader.readexactly(length - 4)
            if struct.unpack("!I", body[:4])[0] not in _NEGOTIATIONS:
                break
            writer.write(b"N")
            await writer.drain()
        up_reader, up_writer = await asyncio.open_connection(host, port)
        writers.append(up_writer)
        up_writer.write(_rewrite(body, database))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await server.wait_closed()
