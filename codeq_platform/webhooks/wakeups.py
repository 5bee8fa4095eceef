"""Wake-up signals (reference §8): "command X has work", POSTed to idle workers' subscriptions.

The engine publishes ``<command>`` on ``<prefix>:wake:<tenant>`` whenever a ready queue goes from
empty to non-empty (create, delayed task due, requeue, expired lease). ``WakeupListener`` runs in
the scheduler process, on a thread with its own event loop, and for each such message wakes:

- the tenant's live worker subscriptions for that command: ``fanout`` every one; ``group`` one
  member per ``groupId``, round-robin; ``hash`` one of them, ``index = (unix time // 60) % n`` over
  the subscriptions ordered by id (codeQ's time bucket), so each minute has its one receiver;
- the tenant's own active subscriptions to ``task.available`` for that command.

A receiver is woken at most once per its ``minIntervalSeconds`` (tenant subscriptions: 5 s); the
interval is a key set with ``NX PX`` in the store, so it holds across scheduler processes, and a
group's rotation advances once per message however many processes receive it (a group is woken at
most once a second). The tenant row, its ``task.available`` subscriptions and its signing secret are
read from the database at most every 5 s per process, so a change reaches wake-ups within that. Wake-ups are
advisory: best-effort, never retried, never recorded as deliveries. A receiver that is down or slow
costs only its own delivery (each runs as its own task, bounded by a timeout); losing the store, or
any other error while listening, makes the listener reconnect every second until it is back. Should
the listening end all the same, the thread ends with it and ``alive`` turns false, so the scheduler
starts the listener again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

import orjson
from django.conf import settings

from codeq_platform.base import db, kv
from codeq_platform.engine import store as kv_store
from codeq_platform.engine.keys import SubscriptionKeys
from codeq_platform.webhooks import selectors as webhook_selectors
from codeq_platform.webhooks import subscriptions as store
from codeq_platform.webhooks.models import WebhookSubscription
from codeq_platform.webhooks.outbound import deliver, loggable, new_client
from codeq_platform.webhooks.secrets import tenant_secrets
from codeq_platform.webhooks.subscriptions import WorkerSubscription
from tenants import selectors
from tenants.models import Tenant

log = logging.getLogger("codeq.wakeups")

CLAIM_URL = "/v1/codeq/tasks/claim"
TENANT_INTERVAL_SECONDS = 5
HASH_BUCKET_SECONDS = 60
TIMEOUT_SECONDS = 5.0
CACHE_SECONDS = 5.0
MAX_PENDING = 1000


@dataclass(frozen=True)
class Target:
    """One wake-up to send: where, signed with which secrets."""

    url: str
    secrets: list[str]


@dataclass(frozen=True)
class _TenantView:
    tenant: Tenant
    subscriptions: list[WebhookSubscription]


def _tenant_view(slug: str, command: str) -> _TenantView | None:
    tenant = selectors.all_tenants().filter(slug=slug, active=True).first()
    if tenant is None:
        return None
    return _TenantView(tenant, webhook_selectors.subscriptions_for_event(tenant=tenant, event="task.available",
                                                                 command=command))  # fmt: skip


def wake_body(command: str, depth: int) -> tuple[str, bytes]:
    """A notification id and the §8 body, exactly its six fields."""
    notification_id = f"ntf_{uuid.uuid4().hex}"
    body = orjson.dumps({
        "eventType": command, "available": True, "queueDepth": depth, "claimUrl": CLAIM_URL,
        "sentAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "notificationId": notification_id,
    })  # fmt: skip
    return notification_id, body


class WakeupListener:
    """The scheduler's wake-up sender: ``start()`` it, ``stop()`` it (in-flight wake-ups finish or
    time out first). ``ready`` is set while it is subscribed to the store."""

    def __init__(self, *, kv_url: str, prefix: str, allow_private: bool, timeout: float = TIMEOUT_SECONDS,
                 tls: kv_store.TLS | None = None) -> None:  # fmt: skip
        self.url = kv_url
        self.tls = tls
        self.prefix = prefix
        self.pattern = f"{prefix}:wake:"
        self.allow_private = allow_private
        self.timeout = timeout
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._handling: set[tuple[str, str]] = set()
        self._sending: set[asyncio.Task[None]] = set()
        self._cache: dict[tuple[str, str], tuple[float, _TenantView | None]] = {}
        self._secrets: dict[int, tuple[float, list[str]]] = {}

    @classmethod
    def from_settings(cls) -> WakeupListener:
        return cls(kv_url=settings.CODEQ_KV_URL, prefix=settings.CODEQ_KV_PREFIX,
                   allow_private=settings.CODEQ_WEBHOOK_ALLOW_PRIVATE, tls=kv.tls())  # fmt: skip

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._started.clear()
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), name="codeq-wakeups", daemon=True)
        self._thread.start()
        self._started.wait()

    def stop(self) -> None:
        """Stop listening, let in-flight wake-ups end (at most ``timeout``), and join the thread."""
        if self._thread is None or self._loop is None or self._stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may have ended already
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(self.timeout + 5)
        self._thread = None

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._started.set()
        async with new_client(connect_timeout=self.timeout, read_timeout=self.timeout) as client:
            self._client = client
            listening = asyncio.create_task(self._listen())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({listening, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            if self._sending:
                await asyncio.wait(self._sending, timeout=self.timeout)
        await kv.async_engine().aclose()

    async def _listen(self) -> None:
        # Every node whose scripts publish wake-ups is listened to (all primaries of a KVRocks cluster).
        while True:
            try:
                async for channel, command in kv_store.psubscribe(self.url, self.pattern + "*", self.tls,
                                                                  on_ready=self._subscribed):  # fmt: skip
                    self._on_wake(channel[len(self.pattern) :], command.decode())
            except Exception as exc:  # the store down or restarting, or anything else: listen again
                if self.ready.is_set():
                    log.warning("wake-up listener lost the store (%r); reconnecting", exc)
                self.ready.clear()
                await asyncio.sleep(1)

    def _subscribed(self) -> None:
        self.ready.set()
        log.info("wake-up listener subscribed to %s*", self.pattern)

    def _on_wake(self, tenant: str, command: str) -> None:
        # Messages for a (tenant, command) already being handled add nothing: every receiver it
        # could wake is being woken, or is inside its interval, at that very moment.
        key = (tenant, command)
        if key in self._handling:
            return
        self._handling.add(key)
        task = asyncio.create_task(self._handle(tenant, command))
        task.add_done_callback(lambda _: self._handling.discard(key))

    async def _handle(self, tenant: str, command: str) -> None:
        try:
            view = await self._view(tenant, command)
            if view is None:
                return
            kv.register_tenant(tenant, view.tenant.shards)
            link = kv.async_engine().link
            keys = SubscriptionKeys(self.prefix, tenant)
            workers = await self._pick_workers(link, keys, command)
            own = [s for s, ok in zip(view.subscriptions, await asyncio.gather(*(
                store.take_interval(link, keys, f"tenant-{s.pk}", TENANT_INTERVAL_SECONDS) for s in view.subscriptions
            )), strict=True) if ok]  # fmt: skip
            if not workers and not own:
                return
            targets = [Target(s.url, s.signing_secrets()) for s in own]
            if workers:
                secrets = await self._worker_secrets(view.tenant.pk)
                targets += [Target(s.callback_url, secrets) for s in workers]
            depth = (await kv.async_engine().queue_stats(tenant, command)).ready
            for target in targets:
                self._send(target, command, depth)
        except Exception:  # one failed wake-up (store, database) must never stop the listener
            log.exception("wake-up for %s of tenant %s failed", command, tenant)

    async def _pick_workers(self, link, keys: SubscriptionKeys, command: str) -> list[WorkerSubscription]:
        subs = [s for s in await store.live(link, keys, now_ms=int(time.time() * 1000)) if s.wants(command)]
        fanout = [s for s in subs if s.delivery_mode == "fanout"]
        hashed = [s for s in subs if s.delivery_mode == "hash"]
        groups: dict[str, list[WorkerSubscription]] = defaultdict(list)
        for s in subs:
            if s.delivery_mode == "group":
                groups[s.group_id].append(s)
        if hashed:
            fanout.append(hashed[int(time.time()) // HASH_BUCKET_SECONDS % len(hashed)])
        allowed = await asyncio.gather(*(store.take_interval(link, keys, s.id, s.min_interval_seconds) for s in fanout))
        picked = await asyncio.gather(*(store.pick_in_group(link, keys, command, m) for m in groups.values()))
        return [s for s, ok in zip(fanout, allowed, strict=True) if ok] + [s for s in picked if s is not None]

    async def _view(self, tenant: str, command: str) -> _TenantView | None:
        now = time.monotonic()
        cached = self._cache.get((tenant, command))
        if cached is None or cached[0] < now:
            if len(self._cache) > 10_000:
                self._cache.clear()
            cached = (now + CACHE_SECONDS, await db.run(_tenant_view, tenant, command))
            self._cache[(tenant, command)] = cached
        return cached[1]

    async def _worker_secrets(self, tenant_id: int) -> list[str]:
        now = time.monotonic()
        cached = self._secrets.get(tenant_id)
        if cached is None or cached[0] < now:
            cached = (now + CACHE_SECONDS, await db.run(tenant_secrets, tenant_id))
            self._secrets[tenant_id] = cached
        return cached[1]

    def _send(self, target: Target, command: str, depth: int) -> None:
        if len(self._sending) >= MAX_PENDING:
            log.warning("wake-up to %s dropped: %d already in flight", loggable(target.url), len(self._sending))
            return
        task = asyncio.create_task(self._deliver(target, command, depth))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _deliver(self, target: Target, command: str, depth: int) -> None:
        notification_id, body = wake_body(command, depth)
        try:
            attempt = await deliver(self._client, target.url, body, target.secrets, message_id=notification_id,
                                    allow_private=self.allow_private, timeout=self.timeout)  # fmt: skip
        except Exception:  # best-effort: logged, never retried
            log.exception("wake-up %s to %s failed", notification_id, loggable(target.url))
            return
        if not attempt.ok:
            log.info("wake-up %s to %s not delivered: %s", notification_id, loggable(target.url), attempt.error)
