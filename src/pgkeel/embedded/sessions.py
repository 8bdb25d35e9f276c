"""Which processes are using an embedded server, so the last one out stops it.

A server started by a session (a test run, `make demo`) is stopped when the last session using
it leaves -- not when the one that happened to start it does, which would pull it out from
under the others. A server started by `pgkeel server start` belongs to no session and keeps
running. Sessions whose process died are forgotten.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from pgkeel.embedded._process import file_lock, pid_alive

__all__ = ["SessionRegistry"]


class SessionRegistry:
    """`<root>/.sessions.json`: who is using the server (one `pid:token` entry per join, so
    one process may join twice) and whether a session started it. Every change happens under
    `<root>/.sessions.lock`."""

    def __init__(self, root: Path) -> None:
        self.path = root / ".sessions.json"
        self.lock_path = root / ".sessions.lock"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this around start+join and leave+stop, so nobody joins a stopping server."""
        with file_lock(self.lock_path):
            yield

    def _read(self) -> tuple[list[str], bool]:
        try:
            data = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return [], False
        users = [u for u in data.get("users", []) if isinstance(u, str) and _alive(u)]
        return users, bool(data.get("started_by_session")) and bool(users)

    def _write(self, users: list[str], started_by_session: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(orjson.dumps({"users": users,
                                            "started_by_session": started_by_session}))

    def join(self, *, started_here: bool) -> str:
        """Register a user of the server (call under `locked()`, right after starting or
        reusing it); returns the entry to `leave` with."""
        users, by_session = self._read()
        entry = f"{os.getpid()}:{secrets.token_hex(4)}"
        self._write([*users, entry], by_session or started_here)
        return entry

    def leave(self, entry: str) -> bool:
        """Unregister `entry`; True when it was the last user of a server that a session
        started, which the caller should therefore stop (call under `locked()`)."""
        users, by_session = self._read()
        remaining = [u for u in users if u != entry]
        self._write(remaining, by_session and bool(remaining))
        return by_session and not remaining


def _alive(entry: str) -> bool:
    pid = entry.split(":", 1)[0]
    return pid.isdigit() and pid_alive(int(pid))
