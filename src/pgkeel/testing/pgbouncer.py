"""A PgBouncer in transaction mode in front of a PostgreSQL server, for tests.

Debian's `pgbouncer` (or one on PATH), on a free port of 127.0.0.1, trusting every user
(`auth_type = trust`; roles other than postgres are looked up in the server through
`auth_user = postgres`), with `pool_size` server connections
per database and user -- 1 makes every client share one server connection, the strictest test
that nothing of one client's transaction leaks into the next client's.

    with PgBouncer(tmp_path, "127.0.0.1", 5432) as bouncer:
        bouncer.url("postgresql://app@127.0.0.1:5432/mydb")   # the same URL, through it
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pgkeel.embedded._process import free_port, wait_until
from pgkeel.embedded.postgres import SERVER_USER, server_user
from pgkeel.errors import EmbeddedServerError

__all__ = ["PgBouncer", "find_pgbouncer"]

_INI = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {home}/users.txt
auth_user = postgres
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
"""


def find_pgbouncer() -> str | None:
    """PGKEEL_PGBOUNCER, else `pgbouncer` on PATH or in /usr/sbin."""
    for candidate in (os.environ.get("PGKEEL_PGBOUNCER"), shutil.which("pgbouncer"),
                      "/usr/sbin/pgbouncer"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


class PgBouncer:
    """One PgBouncer process under `home` (see the module docstring)."""

    def __init__(self, home: Path, host: str, port: int, *, pool_size: int = 20) -> None:
        binary = find_pgbouncer()
        if binary is None:
            raise EmbeddedServerError("pgbouncer is not installed.",
                                      hint="apt-get install pgbouncer, or set PGKEEL_PGBOUNCER.")
        self.binary = binary
        self.home = home
        self.host, self.port = host, port
        self.pool_size = pool_size
        self.listen_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # PgBouncer refuses to run as root.
        self._user = SERVER_USER if os.geteuid() == 0 else None

    def url(self, url: str) -> str:
        """`url` (a postgresql:// URL), pointed at this PgBouncer instead of its server."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.listen_port}" if userinfo \
            else f"127.0.0.1:{self.listen_port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        ini = self.home / "pgbouncer.ini"
        (self.home / "users.txt").write_text('"postgres" ""\n')
        ini.write_text(_INI.format(host=self.host, port=self.port, listen=self.listen_port,
                                   pool_size=self.pool_size, home=self.home))
        if self._user is not None:
            entry = server_user()
            os.chown(self.home, entry.pw_uid, entry.pw_gid)
            for parent in self.home.parents:
                parent.chmod(parent.stat().st_mode | 0o011)
        self.process = subprocess.Popen([self.binary, str(ini)],  # noqa: S603
                                        user=self._user, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._listening() or self.process is None
                   or self.process.poll() is not None, 30, "PgBouncer to listen")
        if self.process.poll() is not None:
            log = self.home / "pgbouncer.log"
            raise EmbeddedServerError("pgbouncer exited at start.",
                                      hint=f"See {log}." if log.exists() else None)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "safe shutdown": after transactions
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> PgBouncer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.listen_port), timeout=0.5):
                return True
        except OSError:
            return False
