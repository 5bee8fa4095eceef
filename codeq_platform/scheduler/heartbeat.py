"""The scheduler's background loops, kept running and reported to the web processes.

Beside its periodic jobs a scheduler process runs two loops on threads of their own: the webhook
dispatcher and the wake-up listener. Each survives the store's and the database's errors by itself;
a loop whose thread ends anyway (an error nobody foresaw) is started again by ``Supervisor.tick``,
which the scheduler runs every second, and the restart is counted.

The same tick writes the process's heartbeat to the KV store: one field of the hash
``<prefix>:scheduler:heartbeat`` per process, holding ``{"at": ms, "loops": {name: {"alive",
"restarts"}}, "jobs": {name: {"failures"}}}`` (``failures``: the job's runs that failed in a row).
Times are the store's own (``TIME``), so processes on hosts whose clocks differ agree on a
heartbeat's age. Web processes read it for ``/readyz`` and ``/metrics``: a heartbeat older than
``STALE_SECONDS`` is a scheduler that is gone; the writers drop one older than ``FORGET_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import redis

log = logging.getLogger("codeq.scheduler")

STALE_SECONDS = 10
FORGET_SECONDS = 3600


class Loop(Protocol):
    """A background loop on a thread of its own."""

    @property
    def alive(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def heartbeat_key(prefix: str) -> str:
    return f"{prefix}:scheduler:heartbeat"


def store_ms(time_reply: Any) -> int:
    """The store's ``TIME`` reply in milliseconds."""
    seconds, micros = (int(part) for part in time_reply)
    return seconds * 1000 + micros // 1000


class JobHealth:
    """Counts each periodic job's failures in a row (thread-safe: jobs run on APScheduler's pool)."""

    def __init__(self) -> None:
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, name: str, ok: bool) -> None:
        with self._lock:
            self._failures[name] = 0 if ok else self._failures.get(name, 0) + 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: {"failures": n} for name, n in self._failures.items()}


class Supervisor:
    """Starts the loops, restarts any that ended without being stopped, and writes the heartbeat."""

    def __init__(self, client: redis.Redis, prefix: str, loops: Mapping[str, Loop], jobs: JobHealth) -> None:
        self.client = client
        self.key = heartbeat_key(prefix)
        self.loops = dict(loops)
        self.jobs = jobs
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self.restarts = dict.fromkeys(self.loops, 0)
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        for loop in self.loops.values():
            loop.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        for loop in self.loops.values():
            loop.stop()
        try:
            self.client.hdel(self.key, self.process)
        except redis.RedisError:
            log.warning("could not remove this scheduler's heartbeat; it goes stale by itself")

    def tick(self) -> None:
        """Restart every loop that has ended, then write the heartbeat (the store's errors propagate)."""
        with self._lock:
            if self._stopped:
                return
            for name, loop in self.loops.items():
                if not loop.alive:
                    log.error("the %s loop had stopped; starting it again", name)
                    loop.start()
                    self.restarts[name] += 1
        self.beat()

    def beat(self) -> None:
        now = store_ms(self.client.time())
        beat = {"at": now, "loops": {name: {"alive": loop.alive, "restarts": self.restarts[name]}
                                     for name, loop in self.loops.items()},
                "jobs": self.jobs.snapshot()}  # fmt: skip
        self.client.hset(self.key, self.process, orjson.dumps(beat))
        for process, raw in self.client.hgetall(self.key).items():
            if now - orjson.loads(raw)["at"] > FORGET_SECONDS * 1000:
                self.client.hdel(self.key, process)


@dataclass(frozen=True)
class Heartbeat:
    """One scheduler process as its last heartbeat showed it."""

    process: str
    age_seconds: float
    loops: dict[str, dict[str, Any]]
    jobs: dict[str, dict[str, int]]

    @property
    def fresh(self) -> bool:
        return self.age_seconds <= STALE_SECONDS

    @property
    def healthy(self) -> bool:
        return (self.fresh and all(loop["alive"] for loop in self.loops.values())
                and not any(job["failures"] for job in self.jobs.values()))  # fmt: skip


async def read(link: Any, prefix: str) -> list[Heartbeat]:
    """Every scheduler process's last heartbeat, read through an asyncio engine's link."""
    now = store_ms(await link.execute(("TIME",)))
    reply = await link.execute(("HGETALL", heartbeat_key(prefix)))
    fields = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))
    return parse(now, fields)


def parse(now_ms: int, fields: Mapping[Any, bytes]) -> list[Heartbeat]:
    """The heartbeats of an ``HGETALL`` of the heartbeat hash, ordered by process."""
    beats = []
    for process, raw in fields.items():
        beat = orjson.loads(raw)
        name = process.decode() if isinstance(process, bytes) else str(process)
        beats.append(Heartbeat(name, max(0, now_ms - beat["at"]) / 1000, beat["loops"], beat.get("jobs", {})))
    return sorted(beats, key=lambda b: b.process)


def summary(beats: list[Heartbeat]) -> str:
    """``ok`` (a live scheduler, all its loops running, no job failing), ``degraded``, or ``down``."""
    live = [b for b in beats if b.fresh]
    if not live:
        return "down"
    return "ok" if all(b.healthy for b in live) else "degraded"
