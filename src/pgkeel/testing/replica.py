"""A scratch PostgreSQL primary with a streaming standby, for tests of replica behaviour.

Both servers are private: `initdb` in a directory of the test's own, free ports on 127.0.0.1,
trust authentication, stopped (immediately) afterwards. The standby is a `pg_basebackup -R`
of the primary, so it streams WAL exactly as a production replica does. `pause_replay()`
stops it from applying WAL (it keeps receiving), which is how a test makes a lagging replica;
`resume_replay()` and `wait_caught_up()` undo it; `stop_standby()` kills the standby and
`start_standby()` brings it back.

    with StreamingReplica(tmp_path) as pair:
        pair.primary_url, pair.standby_url
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from pgkeel.embedded._process import free_port, wait_until
from pgkeel.embedded.postgres import SERVER_USER
from pgkeel.errors import EmbeddedServerError

__all__ = ["StreamingReplica", "find_bin_dir"]

_CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 4
hot_standby = on
fsync = off
logging_collector = off
"""


def find_bin_dir() -> Path | None:
    """A directory holding initdb, pg_ctl and pg_basebackup: PGKEEL_PG_BIN, then PATH, then
    the newest /usr/lib/postgresql/<version>/bin."""
    candidates = [os.environ.get("PGKEEL_PG_BIN", "")]
    on_path = shutil.which("pg_basebackup")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    candidates += [str(p) for p in reversed(versions)]
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if all((path / tool).exists() for tool in ("initdb", "pg_ctl", "pg_basebackup")):
            return path
    return None


class StreamingReplica:
    """A primary and one streaming standby under `home` (see the module docstring)."""

    def __init__(self, home: Path, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise EmbeddedServerError("No PostgreSQL server binaries (initdb, pg_ctl, "
                                      "pg_basebackup) were found.",
                                      hint="Set PGKEEL_PG_BIN to their directory.")
        self.bin_dir = found
        self.home = home
        self.primary_dir = home / "primary"
        self.standby_dir = home / "standby"
        self.primary_port = free_port()
        self.standby_port = free_port()
        self._user = SERVER_USER if os.geteuid() == 0 else None

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def standby_url(self) -> str:
        return self.url(self.standby_port)

    def start(self) -> None:
        self._prepare_home()
        self._run("initdb", "-D", str(self.primary_dir), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-locale", "--no-instructions")
        with (self.primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(_CONFIG.format(port=self.primary_port))
        self._pg_ctl(self.primary_dir, "start")
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port),
                  "-U", "postgres", "-D", str(self.standby_dir), "-R", "-X", "stream")
        with (self.standby_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {self.standby_port}\n")
        self._pg_ctl(self.standby_dir, "start")
        wait_until(self._standby_streams, 60, "the standby to stream from the primary")

    def stop(self) -> None:
        for data in (self.standby_dir, self.primary_dir):
            if (data / "postmaster.pid").exists():
                self._pg_ctl(data, "stop", "-m", "immediate")

    def stop_standby(self) -> None:
        """Kill the standby (immediate shutdown), as a crashed replica: clients lose their
        connections and new ones are refused."""
        self._pg_ctl(self.standby_dir, "stop", "-m", "immediate")

    def start_standby(self) -> None:
        """Start the standby again; it resumes streaming where it stopped."""
        self._pg_ctl(self.standby_dir, "start")
        wait_until(self._standby_streams, 60, "the standby to stream from the primary")

    def __enter__(self) -> StreamingReplica:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- lag ---------------------------------------------------------------------------------

    def pause_replay(self) -> None:
        """The standby keeps receiving WAL but applies none of it: reads there go stale."""
        with self._standby() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            wait_until(lambda: conn.execute("SELECT pg_get_wal_replay_pause_state()")
                       .fetchone() == ("paused",), 30, "replay to pause")

    def resume_replay(self) -> None:
        with self._standby() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, timeout_s: float = 60.0) -> None:
        """Until the standby has applied everything the primary has written so far."""
        with psycopg.connect(self.primary_url, autocommit=True) as primary:
            row = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        with self._standby() as conn:
            wait_until(lambda: conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()
                == (True,), timeout_s, "the standby to catch up")

    # -- internals ---------------------------------------------------------------------------

    @contextmanager
    def _standby(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        with psycopg.connect(self.standby_url, autocommit=True) as conn:
            yield conn

    def _standby_streams(self) -> bool:
        try:
            with self._standby() as conn:
                row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
                return row == ("streaming",)
        except psycopg.OperationalError:
            return False

    def _prepare_home(self) -> None:
        """PostgreSQL refuses to run as root: as root, `SERVER_USER` owns the directory."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self._user is None:
            return
        entry = pwd.getpwnam(self._user)
        os.chown(self.home, entry.pw_uid, entry.pw_gid)
        self._traversable()

    def _traversable(self) -> None:
        """Let the server user reach `home` through its parents (again before each command:
        another pytest process resets /tmp/pytest-of-<user> to 0700 when it starts)."""
        for parent in self.home.parents:
            mode = parent.stat().st_mode
            if mode & 0o011 != 0o011:
                parent.chmod(mode | 0o011)

    def _pg_ctl(self, data: Path, action: str, *args: str) -> None:
        if self._user is not None:
            self._traversable()
        self._run("pg_ctl", "-D", str(data), "-l", str(data.parent / f"{data.name}.log"),
                  "-w", "-t", "60", *args, action)

    def _run(self, program: str, *args: str) -> None:
        try:
            subprocess.run([str(self.bin_dir / program), *args], check=True,  # noqa: S603
                           user=self._user, timeout=120, cwd=self.home,
                           stdin=subprocess.DEVNULL, capture_output=True)
        except subprocess.CalledProcessError as exc:
            output = (exc.stdout + exc.stderr).decode(errors="replace").strip()
            raise EmbeddedServerError(f"{program} failed: {output[-500:]}") from exc
