"""The stores a benchmark runs against: ``--stores redis,kvrocks`` (default: the one ``CODEQ_KV_URL`` names).

``redis`` is ``CODEQ_KV_URL`` (default redis://127.0.0.1:6379/0). ``kvrocks`` is a KVRocks the benchmark
starts from ``CODEQ_KVROCKS_BIN`` with its stock configuration (the ``kvrocks.conf.default`` beside the
binary) and a fresh data directory, and stops at the end, unless ``CODEQ_KVROCKS_URL`` names a running one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def kvrocks() -> Iterator[str]:
    if os.environ.get("CODEQ_KVROCKS_URL"):
        yield os.environ["CODEQ_KVROCKS_URL"]
        return
    binary = os.environ.get("CODEQ_KVROCKS_BIN", "")
    if not binary or not os.access(binary, os.X_OK):
        raise SystemExit("--stores kvrocks needs CODEQ_KVROCKS_BIN (a kvrocks binary) or CODEQ_KVROCKS_URL")
    data = Path(tempfile.mkdtemp(prefix="codeq-bench-kvrocks-"))
    port = _free_port()
    config = Path(binary).with_name("kvrocks.conf.default")
    args = [binary, *(["-c", str(config)] if config.is_file() else []), "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(data), "--log-dir", str(data), "--daemonize", "no"]  # fmt: skip
    with (data / "console.log").open("wb") as console:
        process = subprocess.Popen(args, stdout=console, stderr=console, stdin=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=1).ping():
                    break
            except redis.RedisError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"kvrocks did not start; see {data}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def stores(names: str) -> Iterator[dict[str, str]]:
    """{name: url} of each store named (comma-separated); empty: {"": CODEQ_KV_URL}."""
    with contextlib.ExitStack() as stack:
        found = {}
        for name in [n.strip() for n in names.split(",") if n.strip()] or [""]:
            if name in ("", "redis"):
                found[name] = os.environ.get("CODEQ_KV_URL") or DEFAULT_URL
            elif name == "kvrocks":
                found[name] = stack.enter_context(kvrocks())
            else:
                raise SystemExit(f"unknown store {name!r}: redis or kvrocks")
        yield found


def suffixed(figures: dict[str, float], store: str) -> dict[str, float]:
    """Figures named for their store (``drain_per_s_kvrocks``) when several stores run."""
    return {f"{name}_{store}" if store else name: value for name, value in figures.items()}
