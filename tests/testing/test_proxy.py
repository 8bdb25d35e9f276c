"""The TCP proxy reads its client's protocol messages, so its COMMIT trap cannot miss a COMMIT
or a marker that TCP delivered in pieces, or one pipelined with other messages."""

from __future__ import annotations

import struct

from pgkeel.testing.proxy import _Link

STARTUP = struct.pack("!II", 8, 80877103) + (
    struct.pack("!II", 23, 196608) + b"user\x00postgres\x00\x00")


def message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def parse(name: bytes, query: bytes) -> bytes:
    return message(b"P", name + b"\x00" + query + b"\x00\x00\x00")


def bind(name: bytes, value: bytes = b"") -> bytes:
    params = struct.pack("!HH", 0, 1 if value else 0)
    if value:
        params += struct.pack("!I", len(value)) + value
    return message(b"B", b"\x00" + name + b"\x00" + params + b"\x00\x00")


EXECUTE_SYNC = message(b"E", b"\x00\x00\x00\x00\x00") + message(b"S", b"")


def feed(link: _Link, stream: bytes, piece: int) -> tuple[bool, bool, bytes]:
    """Feed `stream` `piece` bytes at a time: (marker seen, COMMIT seen, bytes released)."""
    marked = commit = False
    released = b""
    for start in range(0, len(stream), piece):
        messages, span = link.messages(stream[start:start + piece])
        released += span
        for one in messages:
            marked = marked or b"ada@example.com" in one
            commit = link.is_commit(one) or commit
    return marked, commit, released


def test_a_prepared_commit_and_a_marker_split_byte_by_byte_are_seen():
    stream = (STARTUP + parse(b"_pg3_0", b"COMMIT") + message(b"S", b"")
              + parse(b"", b"INSERT INTO t VALUES ($1)") + bind(b"", b"ada@example.com")
              + EXECUTE_SYNC + bind(b"_pg3_0") + EXECUTE_SYNC)
    for piece in (1, 3, 7, len(stream)):
        marked, commit, released = feed(_Link(), stream, piece)
        assert marked and commit, piece
        assert released == stream, "every byte goes on, in order"


def test_simple_and_unnamed_commits_are_seen_other_statements_are_not():
    assert feed(_Link(), STARTUP + message(b"Q", b"commit;\x00"), 2)[1]
    assert feed(_Link(), STARTUP + parse(b"", b"COMMIT") + bind(b"") + EXECUTE_SYNC, 5)[1]
    assert not feed(_Link(), STARTUP + message(b"Q", b"SELECT 'COMMIT'\x00"), 4)[1]
    renamed = parse(b"s1", b"COMMIT") + parse(b"s1", b"SELECT 1") + bind(b"s1")
    assert not feed(_Link(), STARTUP + renamed, 6)[1]
