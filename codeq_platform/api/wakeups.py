"""Wake-ups for long-polling claims: one pub/sub connection per process, a future per waiter.

The engine publishes ``<command>`` on ``<prefix>:wake:<tenant>`` whenever a ready queue goes from
empty to non-empty. A waiting claim registers an event for its commands and re-tries its claim when
woken (or at least once a second, so a lost message costs at most that). Advisory only: the claim
itself decides who gets a task.

The listener survives any error: a lost store is retried every second, anything else is logged with
its traceback and retried too. ``summary`` says how it stands for ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterator

import redis
from django.conf import settings

from codeq_platform.base import kv
from codeq_platform.engine import command_key, store

log = logging.getLogger(__name__)


class WakeHub:
    """The process's listener and the waiting claims it wakes."""

    def __init__(self, url: str, prefix: str, tls: store.TLS | None = None) -> None:
        self.url = url
        self.tls = tls
        self.prefix = f"{prefix}:wake:"
        self.waiters: dict[tuple[str, str], set[asyncio.Event]] = {}
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.failures = 0
        self.restarts = 0

    def start(self) -> None:
        if self.task is None or self.task.done():
            if self.task is not None:
                self.restarts += 1
                log.error("wake-up listener had stopped; started again")
            self.task = asyncio.get_running_loop().create_task(self._listen())

    @property
    def summary(self) -> str:
        """``idle`` before the first long-poll, ``ok`` while subscribed, ``reconnecting`` while the store is
        away (claims poll once a second meanwhile), ``down`` when the listener has stopped."""
        if self.task is None:
            return "idle"
        if self.task.done():
            return "down"
        return "ok" if self.ready.is_set() else "reconnecting"

    async def _listen(self) -> None:
        # Every node whose scripts publish wake-ups is listened to (all primaries of a KVRocks cluster).
        while True:
            try:
                async for channel, command in store.psubscribe(self.url, self.prefix + "*", self.tls,
                                                               on_ready=self.ready.set):  # fmt: skip
                    self._wake(channel[len(self.prefix) :], command.decode())
            except (redis.RedisError, OSError) as exc:
                self.ready.clear()
                self.failures += 1
                log.warning("wake-up listener lost the store (%s); claims fall back to polling", exc)
                await asyncio.sleep(1)
            except Exception:
                self.ready.clear()
                self.failures += 1
                log.exception("wake-up listener failed; claims fall back to polling until it is back")
                await asyncio.sleep(1)

    def _wake(self, tenant: str, command: str) -> None:
        for key in ((tenant, command), (tenant, "*")):
            for event in self.waiters.get(key, ()):
                event.set()

    @contextlib.contextmanager
    def waiting(self, tenant: str, commands: list[str] | None) -> Iterator[asyncio.Event]:
        """An event set when any of ``commands`` (None: any command) of ``tenant`` gets work."""
        self.start()
        event = asyncio.Event()
        keys = [(tenant, command_key(c)) for c in commands] if commands else [(tenant, "*")]
        for key in keys:
            self.waiters.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            for key in keys:
                group = self.waiters.get(key)
                if group is not None:
                    group.discard(event)
                    if not group:
                        del self.waiters[key]


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WakeHub] = weakref.WeakKeyDictionary()


def current() -> WakeHub | None:
    """The running event loop's hub if a claim has made one, for the health checks."""
    return _hubs.get(asyncio.get_running_loop())


def hub() -> WakeHub:
    """The wake-up hub of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = WakeHub(settings.CODEQ_KV_URL, settings.CODEQ_KV_PREFIX, kv.tls())
    return found
