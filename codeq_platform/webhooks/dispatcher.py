"""The dispatcher: leases delivery tasks from the internal queue and sends them, many at once.

It runs in the scheduler process on a thread with its own event loop, one pooled HTTP client and the
loop's asyncio engine. Each leased task is one delivery attempt: sent with ``outbound.deliver``,
recorded, then completed (2xx) or nacked with the delivery's retry delay; the engine dead-letters
it once its attempts are spent. The lease outlasts an attempt, so a dispatcher that dies mid-send
loses nothing: the lease expires and the delivery is sent again.

``stop`` stops claiming, lets in-flight deliveries finish for up to ``grace`` seconds, and gives
the rest back to the queue (abandon: not charged) before the thread ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid

import orjson
from django.conf import settings

from codeq_platform.base import db, kv
from codeq_platform.engine import Task
from codeq_platform.errors import CodeqError
from codeq_platform.webhooks import deliveries
from codeq_platform.webhooks.outbound import deliver, new_client

log = logging.getLogger("codeq.webhooks")

IDLE_POLL_SECONDS = 0.1
CLAIM_BATCH = 10


class Dispatcher:
    """Sends queued deliveries until stopped; ``start`` and ``stop`` are called from another thread."""

    def __init__(self, *, concurrency: int, timeout: float, allow_private: bool, grace: float = 10.0) -> None:
        self.concurrency = concurrency
        self.grace = grace
        self.timeout = timeout
        self.allow_private = allow_private
        self.worker = f"dispatcher:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._running = threading.Event()

    @classmethod
    def from_settings(cls) -> Dispatcher:
        return cls(concurrency=settings.CODEQ_WEBHOOK_CONCURRENCY, timeout=settings.CODEQ_WEBHOOK_TIMEOUT_SECONDS,
                   allow_private=settings.CODEQ_WEBHOOK_ALLOW_PRIVATE,
                   grace=settings.CODEQ_WEBHOOK_STOP_GRACE_SECONDS)  # fmt: skip

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), name="codeq-dispatcher", daemon=True)
        self._thread.start()
        self._running.wait(10)

    def stop(self) -> None:
        """Stop claiming; wait up to ``grace`` seconds for in-flight deliveries, give back the rest."""
        if self._thread is None or self._loop is None or self._stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may have ended already
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(self.grace + 15)
        self._thread = None

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        engine = kv.async_engine()
        in_flight: dict[asyncio.Task[None], Task] = {}
        lease_ms = int(deliveries.lease_seconds(self.timeout) * 1000)
        self._running.set()
        async with new_client(connect_timeout=min(5.0, self.timeout), read_timeout=self.timeout,
                              max_connections=self.concurrency) as client:  # fmt: skip
            while not self._stopping.is_set():
                free = self.concurrency - len(in_flight)
                claimed: list[Task] = []
                if free > 0:
                    try:
                        claimed = await engine.claim(deliveries.INTERNAL_TENANT, self.worker, [deliveries.COMMAND],
                                                     lease_ms=lease_ms, count=min(free, CLAIM_BATCH))  # fmt: skip
                    except CodeqError:
                        log.exception("the dispatcher could not claim deliveries")
                for task in claimed:
                    job = asyncio.create_task(self._send(engine, client, task))
                    in_flight[job] = task
                    job.add_done_callback(in_flight.pop)
                if len(claimed) < min(free, CLAIM_BATCH) or free <= 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), IDLE_POLL_SECONDS)
            if in_flight:
                await asyncio.wait(list(in_flight), timeout=self.grace)
            for job, task in list(in_flight.items()):
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
                with contextlib.suppress(CodeqError):
                    await engine.abandon(deliveries.INTERNAL_TENANT, task.id, self.worker)
        await engine.aclose()

    async def _send(self, engine, client, task: Task) -> None:
        """One attempt of one delivery. Failures of our own (store, database) are logged and leave the
        task leased: its lease expires and it is tried again."""
        try:
            delivery_pk = orjson.loads(task.payload)["deliveryId"]
            job = await db.run(deliveries.load_job, delivery_pk)
            if job is None or job.skip:
                if job is not None:
                    await db.run(deliveries.give_up, job.delivery_id, job.skip)
                await engine.complete(deliveries.INTERNAL_TENANT, task.id, self.worker, {"sent": False})
                return
            attempt = await deliver(client, job.url, job.body, job.secrets, message_id=f"msg_{job.delivery_id.hex}",
                                    allow_private=self.allow_private, timeout=self.timeout)  # fmt: skip
            final = not attempt.ok and task.attempts >= task.max_attempts
            await db.run(deliveries.record_attempt, job.delivery_id, attempt, final=final)
            if attempt.ok:
                await engine.complete(deliveries.INTERNAL_TENANT, task.id, self.worker,
                                      {"sent": True, "statusCode": attempt.status_code})  # fmt: skip
            else:
                delay_ms = deliveries.policy_for(job.kind).delay_ms(task.attempts)
                await engine.nack(deliveries.INTERNAL_TENANT, task.id, self.worker, delay_ms=delay_ms,
                                  reason=(attempt.error or "failed")[:500])  # fmt: skip
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery task %s failed", task.id)
