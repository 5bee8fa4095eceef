"""Samples of the hot path for the console's metrics and workers pages, sent to the store off the path.

The task views hand this module what they already hold: the tasks a claim returned (wait time: from
when the task last became ready to the claim), the task a result settled (run time: from its last
claim to the result; completed or failed), a nack that dead-lettered (its run time: the stats job counts
every dead-letter from the engine's counters, whatever made it), and who called (the worker).
It adds them up in memory (``rollups.Tally``: a dictionary update per sample, no store command on
the request's path) and a flusher task on the process's event loop sends them every
``FLUSH_SECONDS`` in one pipeline per tenant (``HINCRBY`` into the rollup buckets with their TTL, the
workers' rows with ``HSET``).

Failures are survived and counted: the figures of a tenant whose pipeline the store refuses are kept
for the next flush (at most ``MAX_PENDING`` distinct figures; past that the oldest minute is dropped and
counted). A connection lost halfway through a pipeline may so count part of it twice, never lose it.
The flusher catches every error the store raises; should its task end anyway, the next sample or the
next ``/readyz`` or ``/metrics`` starts it again and counts the restart; both report its state.

What a worker's client says about itself travels in optional request headers the contract lets
through: ``X-Codeq-Worker-Id`` (one worker process among those sharing a token), ``X-Codeq-Worker-Host``,
``X-Codeq-Worker-Pid`` and ``X-Codeq-Worker-In-Flight`` (tasks it holds as it sends the request).
A value that is not short printable text is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from codeq_platform.api.auth import Principal
from codeq_platform.base import kv, rollups
from codeq_platform.engine import Task

log = logging.getLogger("codeq.api")

FLUSH_SECONDS = 1.0
MAX_PENDING = 100_000
STALE_SECONDS = 30
_TEXT = re.compile(r"[A-Za-z0-9._:@+-]{1,64}")
WORKER_HEADERS = (  # documented on every route that reads them (api/endpoint.py)
    ("X-Codeq-Worker-Id", "Which worker process among those sharing a token is calling (the console's Workers page)."),
    ("X-Codeq-Worker-Host", "The worker's host name."),
    ("X-Codeq-Worker-Pid", "The worker's process id."),
    ("X-Codeq-Worker-In-Flight", "How many tasks the worker holds as it sends this request."),
)
# Events after which a task is ready again; a 'retry' event's detail is the time it falls due.
_READY_AGAIN = ("enqueued", "retry", "expired", "abandoned", "nacked", "replayed")


def _said(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    return value if value and _TEXT.fullmatch(value) else ""


def ready_since_ms(task: Task) -> int:
    """When a task just claimed had last become ready: its creation, or the event before this claim
    (a retry's due time, an expiry, an abandon, a replay), whichever is latest. A task created with a
    delay counts from its creation: its record keeps no due time once it is ready."""
    since = task.created_ms
    history = task.history
    end = history.rfind("\x1eclaimed\x1f")
    if end < 0:
        return since
    start = history.rfind("\x1e", 0, end) + 1
    kind, at_ms, detail = history[start:end].split("\x1f", 2)
    if kind in _READY_AGAIN:
        since = max(since, int(at_ms))
        if kind == "retry" and detail.isdigit():
            since = max(since, int(detail))
    return since


def claimed_at_ms(task: Task) -> int | None:
    """When the task's last claim happened, from its history."""
    history = task.history
    start = history.rfind("claimed\x1f")
    if start < 0 or (start and history[start - 1] != "\x1e"):
        return None
    return int(history[start + 8 : history.index("\x1f", start + 8)])


@dataclass
class State:
    alive: bool
    restarts: int
    flush_failures: int
    dropped: int
    last_flush_age_seconds: float | None

    @property
    def summary(self) -> str:
        """``ok``; ``failing`` when the last flushes were refused; ``down`` when the flusher is not running."""
        if not self.alive:
            return "down"
        if self.last_flush_age_seconds is not None and self.last_flush_age_seconds > STALE_SECONDS:
            return "failing"
        return "ok"


class Recorder:
    """The process's samples and the flusher that sends them."""

    def __init__(self) -> None:
        self.tally = rollups.Tally()
        self.workers: dict[tuple[str, int, str], rollups.WorkerSeen] = {}
        self.task: asyncio.Task[None] | None = None
        self.restarts = 0
        self.flush_failures = 0
        self.dropped = 0
        self.last_ok = time.monotonic()
        self.pending_since: float | None = None

    def ensure_running(self) -> bool:
        """Start the flusher on the running loop if it is not running there; True when it had ended by
        itself (logged, and counted as a restart). A flusher left on another, finished loop (a test
        harness's) is simply replaced."""
        task = self.task
        loop = asyncio.get_running_loop()
        died = False
        if task is not None and task.get_loop() is loop:
            if not task.done():
                return False
            error = None if task.cancelled() else task.exception()
            log.error("the metrics flusher had stopped; starting it again", exc_info=error)
            self.restarts += 1
            died = True
        self.task = loop.create_task(self._run(), name="codeq-metrics-flusher")
        return died

    def state(self) -> State:
        alive = self.task is not None and not self.task.done()
        waiting = None if self.pending_since is None else time.monotonic() - max(self.last_ok, self.pending_since)
        return State(alive, self.restarts, self.flush_failures, self.dropped, waiting)

    def seen(self, principal: Principal, headers: Mapping[str, str], claimed: int = 0) -> None:
        """A worker called: remember it (last seen, what its client says) and count what it claimed."""
        now_ms = int(time.time() * 1000)
        instance = _said(headers, "x-codeq-worker-id")
        key = (principal.tenant_slug, principal.token_id, instance)
        worker = self.workers.get(key)
        if worker is None:
            worker = rollups.WorkerSeen(
                principal.token_id,
                principal.token_name,
                instance,
                _said(headers, "x-codeq-worker-host"),
                _said(headers, "x-codeq-worker-pid"),
            )
            self.workers[key] = worker
        said = _said(headers, "x-codeq-worker-in-flight")
        worker.in_flight = int(said) + claimed if said.isdigit() else None
        worker.seen_ms = now_ms
        if claimed:
            self.tally.add(principal.tenant_slug, now_ms, f"/w/{worker.key}", "n", claimed)
        self._noted()

    def claimed(self, tenant: str, tasks: Iterable[Task]) -> None:
        for task in tasks:
            self.tally.duration(tenant, task.updated_ms, task.command_key, "w", task.updated_ms - ready_since_ms(task))
        self._noted()

    def finished(self, tenant: str, task: Task, *, ok: bool) -> None:
        """A worker's result ended a task: completed (``ok``) or failed; its run time counts too."""
        at_ms = task.finished_ms or task.updated_ms
        figure = "ok" if ok else "bad"
        self.tally.add(tenant, at_ms, task.command_key, figure)
        self.tally.add(tenant, at_ms, rollups.ALL, figure)
        self.ran(tenant, task)

    def ran(self, tenant: str, task: Task) -> None:
        """A task's run ended (a result, or a nack that dead-lettered it, which the stats job counts as a
        failure with every other dead-letter): its run time counts when it had a claim."""
        at_ms = task.finished_ms or task.updated_ms
        started = claimed_at_ms(task)
        if started is not None:
            self.tally.duration(tenant, at_ms, task.command_key, "r", at_ms - started)
        self._noted()

    def _noted(self) -> None:
        if self.pending_since is None:
            self.pending_since = time.monotonic()
        self.ensure_running()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        """Send what was added up since the last flush; on failure keep it (bounded) for the next."""
        if not self.tally and not self.workers:
            self.pending_since = None
            return
        tally, self.tally = self.tally, rollups.Tally()
        workers, self.workers = self.workers, {}
        prefix = settings.CODEQ_KV_PREFIX
        per_tenant = tally.calls(prefix)
        by_tenant: dict[str, list[rollups.WorkerSeen]] = {}
        for (tenant, *_), worker in workers.items():
            by_tenant.setdefault(tenant, []).append(worker)
        for tenant, seen in by_tenant.items():
            per_tenant.setdefault(tenant, []).extend(rollups.worker_calls(prefix, tenant, seen))
        link = kv.async_engine().link
        tenants = list(per_tenant)
        sent = await asyncio.gather(*(link.execute_many(per_tenant[t]) for t in tenants), return_exceptions=True)
        refused = {tenant for tenant, outcome in zip(tenants, sent, strict=True) if isinstance(outcome, Exception)}
        if refused:  # the store is down or refused: keep those tenants' figures for the next flush
            self.flush_failures += 1
            log.warning("could not send the metrics samples of %d tenants; keeping them for the next flush",
                        len(refused))  # fmt: skip
            self._keep(tally.only(refused), {k: w for k, w in workers.items() if k[0] in refused})
            return
        self.last_ok = time.monotonic()
        self.pending_since = None if not self.tally and not self.workers else self.last_ok

    def _keep(self, tally: rollups.Tally, workers: dict[tuple[str, int, str], rollups.WorkerSeen]) -> None:
        tally.merge(self.tally)
        self.tally = tally
        for key, worker in workers.items():
            self.workers.setdefault(key, worker)
        while len(self.tally) > MAX_PENDING:
            self.dropped += self.tally.drop_oldest_minute()


recorder = Recorder()


def state() -> State:
    """The flusher's state for ``/readyz`` and ``/metrics``: ``down`` when it had ended (it is started
    again at once, and the restart counted)."""
    died = recorder.ensure_running()
    current = recorder.state()
    current.alive = current.alive and not died
    return current


def as_dict(s: State) -> dict[str, Any]:
    return {"status": s.summary, "restarts": s.restarts, "flushFailures": s.flush_failures,
            "droppedSamples": s.dropped, "lastFlushAgeSeconds": s.last_flush_age_seconds}  # fmt: skip
