"""The worker runtime: claim tasks in batches, run their handlers, heartbeat leases, report outcomes.

How a claimed task ends:

- the handler returns: ``COMPLETED`` with the returned value as result (reports are sent in batches);
- it raises ``PermanentError`` or one of its handler's ``permanent`` types: ``FAILED``, never retried;
- it raises ``Retry(delay_seconds=n)``: nack with that delay;
- it raises anything else, or runs past its timeout: nack without a delay, so the platform's backoff
  decides when it runs again (past ``maxAttempts`` it is dead-lettered);
- the lease is lost (a heartbeat answers ``not-owner``): the handler is cancelled (a thread's outcome is
  dropped) and nothing is reported: another worker has the task.

Results go out in batches; one the platform cannot take while its store is down (503 after the client's
own retries, or unreachable) is kept and sent again every second until it is taken or the worker stops.

On ``stop()`` (SIGTERM or SIGINT under ``run()``) the worker stops claiming, gives in-flight handlers
``grace_seconds`` to finish, then abandons the tasks still running (they are ready again at once,
uncharged) and sends the reports still queued. A second signal skips the rest of the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from dataclasses import dataclass
from typing import Any

from codeq import errors
from codeq.app import App, Handler, Job, call_handler, result_object
from codeq.client import AsyncClient, Report, worker_headers
from codeq.models import Task
from codeq.threads import DaemonThreads
from codeq.wakeups import WakeupReceiver

log = logging.getLogger("codeq.worker")

CLAIM_BATCH = 10  # the platform's largest claim batch
REPORT_BATCH = 100  # the platform's largest result batch
REPORT_SENDERS = 2  # one batch in flight while the next fills
REPORT_PAUSE = 1.0  # seconds between sends of results the platform could not take (its store was down)
MAX_POLLERS = 8


@dataclass
class _Lease:
    task: Task
    handler: Handler
    extended: float
    runner: asyncio.Task[None] | None = None
    lost: bool = False
    given_back: bool = False


class Worker:
    """Runs ``app``'s handlers for the tasks it claims from the platform at ``url`` with ``token``.

    ``concurrency`` tasks at most at once; leases of ``lease_seconds``, renewed every third of it;
    ``poll_wait`` seconds per long-poll while the queues are empty; ``grace_seconds`` for in-flight work on
    stop. ``wakeups`` (a ``WakeupReceiver``) replaces long-polling by wake-up calls from the platform.
    """

    def __init__(
        self,
        app: App,
        *,
        url: str,
        token: str,
        concurrency: int = 50,
        lease_seconds: int = 60,
        grace_seconds: float = 30.0,
        poll_wait: int = 5,
        wakeups: WakeupReceiver | None = None,
        idle_poll_seconds: float = 30.0,
    ) -> None:
        if not app.handlers:
            raise ValueError("the app has no handlers")
        self.app = app
        self.url, self.token = url, token
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.heartbeat_every = max(1.0, lease_seconds / 3)
        self.grace_seconds = grace_seconds
        self.poll_wait = poll_wait
        self.wakeups = wakeups
        self.idle_poll_seconds = idle_poll_seconds
        self.commands = app.commands
        self.pollers = max(1, min(MAX_POLLERS, math.ceil(concurrency / CLAIM_BATCH)))
        self.processed = 0
        self._leases: dict[str, _Lease] = {}
        self._reports: list[Report] = []
        self._progress: dict[str, Any] = {}  # per task, the latest value not sent yet
        self._progress_senders: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._hurry: asyncio.Event | None = None

    # control

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down as the module docstring says."""
        asyncio.run(self.serve(handle_signals=True))

    def stop(self) -> None:
        """Ask a running worker to stop; safe from any thread and from signal handlers. A second call
        cuts the grace period short."""
        loop, stopping, hurry = self._loop, self._stopping, self._hurry
        if loop is None or stopping is None or hurry is None:
            return
        loop.call_soon_threadsafe((hurry if stopping.is_set() else stopping).set)

    async def serve(self, *, handle_signals: bool = False) -> None:
        """Serve in the running loop until ``stop()``."""
        self._loop = asyncio.get_running_loop()
        self._stopping, self._hurry = asyncio.Event(), asyncio.Event()
        self._slots = asyncio.Semaphore(self.concurrency)
        self._reports_ready = asyncio.Event()
        self._woken = asyncio.Event()
        self._threads = DaemonThreads(self.concurrency * 2) if self.app.needs_threads else None
        self.client = AsyncClient(
            self.url,
            self.token,
            connections=self.concurrency + self.pollers + 8,
            headers=worker_headers(),
            in_flight=lambda: len(self._leases),
        )
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(signum, self.stop)
        background = [
            asyncio.create_task(self._heartbeats()),
            *(asyncio.create_task(self._send_reports()) for _ in range(REPORT_SENDERS)),
        ]
        try:
            if self.wakeups is not None:
                await self.wakeups.start(self.client, self.commands, self._wake)
            log.info("worker serving %s with concurrency %d", ", ".join(self.commands), self.concurrency)
            pollers = [asyncio.create_task(self._poll()) for _ in range(self.pollers)]
            await self._stopping.wait()
            log.info("stopping: no more claims; %d in flight get %.0f s", len(self._leases), self.grace_seconds)
            self._woken.set()
            await self._finish(pollers)
        finally:
            if self.wakeups is not None:
                await self.wakeups.stop(self.client)
            await self._flush_reports()
            for job in background:
                job.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if self._threads is not None:
                self._threads.shutdown(wait=False)
            await self.client.aclose()
            if handle_signals:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    self._loop.remove_signal_handler(signum)
            log.info("worker stopped after %d tasks", self.processed)

    async def _finish(self, pollers: list[asyncio.Task[None]]) -> None:
        """Let claims in flight return (what they bring is given back at once) and running work end within
        the grace period; then give back what is still running."""
        assert self._hurry is not None
        runners = [lease.runner for lease in self._leases.values() if lease.runner is not None]
        hurry = asyncio.create_task(self._hurry.wait())
        settled: asyncio.Future[Any] = asyncio.gather(*pollers, *runners, return_exceptions=True)
        await asyncio.wait(
            [settled, hurry],
            timeout=self.grace_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        hurry.cancel()
        for poller in pollers:
            poller.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        late = [lease for lease in self._leases.values() if not (lease.lost or lease.given_back)]
        if late:
            log.warning("giving back %d task(s) still running after the grace period", len(late))
        await asyncio.gather(*(self._give_back(lease) for lease in late))
        await asyncio.gather(
            *(lease.runner for lease in list(self._leases.values()) if lease.runner), return_exceptions=True
        )

    def _wake(self) -> None:
        self._woken.set()

    # claiming

    async def _poll(self) -> None:
        assert self._stopping is not None
        failures = 0
        while not self._stopping.is_set():
            await self._slots.acquire()
            count = 1
            while count < CLAIM_BATCH and not self._slots.locked():
                await self._slots.acquire()
                count += 1
            if self._stopping.is_set():  # it came while this poller waited for a free slot
                for _ in range(count):
                    self._slots.release()
                return
            wait = 0 if self.wakeups is not None else self.poll_wait
            try:
                tasks = await self.client.claim_batch(count, self.commands, lease_seconds=self.lease_seconds, wait=wait)
                failures = 0
            except errors.CodeqError as exc:
                for _ in range(count):
                    self._slots.release()
                failures += 1
                log.warning("claim failed (%s); trying again", exc)
                await self._idle(min(30.0, 0.5 * 2**failures))
                continue
            for _ in range(count - len(tasks)):
                self._slots.release()
            for task in tasks:
                self._start(task)
            if not tasks and self.wakeups is not None:
                await self._idle(self.idle_poll_seconds)

    async def _idle(self, seconds: float) -> None:
        """Wait ``seconds``, or less if a wake-up or a stop arrives."""
        self._woken.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), seconds)

    def _start(self, task: Task) -> None:
        handler = self.app.handler_for(task.command)
        assert handler is not None, task.command  # claims name only the app's commands
        lease = _Lease(task, handler, time.monotonic())
        self._leases[task.id] = lease
        if self._stopping is not None and self._stopping.is_set():
            lease.runner = asyncio.create_task(self._give_back(lease))
            lease.runner.add_done_callback(lambda _: self._release(task.id))
            return
        lease.runner = asyncio.create_task(self._run(lease))

    def _release(self, task_id: str) -> None:
        if self._leases.pop(task_id, None) is not None:
            self._slots.release()

    # running

    async def _run(self, lease: _Lease) -> None:
        task = lease.task
        started = time.monotonic()
        try:
            try:
                value = await call_handler(lease.handler, Job(task, self._publish), self._threads)
            except asyncio.CancelledError:
                return  # the lease was lost or given back; nothing to report
            except Exception as exc:
                await self._progress_sent(task.id)
                await self._failed(lease, exc, time.monotonic() - started)
            else:
                await self._progress_sent(task.id)
                self._queue_report(lease, Report(task.id, "COMPLETED", result_object(value)))
        finally:
            self.processed += 1
            self._release(task.id)

    async def _failed(self, lease: _Lease, exc: Exception, took: float) -> None:
        task, handler = lease.task, lease.handler
        if isinstance(exc, errors.PermanentError):
            self._queue_report(lease, Report(task.id, "FAILED", error=str(exc) or "PermanentError"))
        elif isinstance(exc, handler.permanent):
            self._queue_report(lease, Report(task.id, "FAILED", error=_describe(exc)))
        elif isinstance(exc, errors.Retry):
            await self._nack(lease, str(exc), exc.delay_seconds)
        elif isinstance(exc, TimeoutError) and handler.timeout is not None and took >= handler.timeout:
            log.warning("task %s (%s) ran past its %g s timeout", task.id, task.command, handler.timeout)
            await self._nack(lease, f"timeout: ran past {handler.timeout:g} s", None)
        else:
            log.warning("task %s (%s) failed: %s", task.id, task.command, _describe(exc))
            await self._nack(lease, _describe(exc), None)

    async def _nack(self, lease: _Lease, reason: str, delay: int | None) -> None:
        if lease.lost or lease.given_back:
            return
        try:
            await self.client.nack(lease.task.id, delay_seconds=delay, reason=reason[:4096])
        except errors.CodeqError as exc:
            log.warning("nack of %s failed (%s); its lease will expire", lease.task.id, exc)

    async def _give_back(self, lease: _Lease) -> None:
        if lease.given_back or lease.lost:
            return
        lease.given_back = True
        if lease.runner is not None and lease.runner is not asyncio.current_task():
            lease.runner.cancel()
        try:
            await self.client.abandon(lease.task.id)
        except errors.CodeqError as exc:
            log.warning("abandon of %s failed (%s); its lease will expire", lease.task.id, exc)

    # reports

    def _queue_report(self, lease: _Lease, report: Report) -> None:
        if lease.lost or lease.given_back:
            return
        self._reports.append(report)
        self._reports_ready.set()

    async def _send_reports(self) -> None:
        while True:
            await self._reports_ready.wait()
            if not await self._send_batch(keep=True):
                await asyncio.sleep(REPORT_PAUSE)

    async def _send_batch(self, *, keep: bool = False) -> bool:
        """Send the next batch of results; False when the platform could not take it. With ``keep``, a batch
        refused for an outage goes back to the front of the queue to be sent again."""
        batch = self._reports[:REPORT_BATCH]
        del self._reports[:REPORT_BATCH]
        if not self._reports:
            self._reports_ready.clear()
        if not batch:
            return True
        try:
            outcomes = await self.client.report_batch(batch)
        except errors.CodeqError as exc:
            outage = isinstance(exc, errors.Unavailable | errors.TransportError | errors.RateLimited)
            if outage and keep and not (self._stopping is not None and self._stopping.is_set()):
                log.warning("reporting %d result(s) failed (%s); sending them again", len(batch), exc)
                self._reports[:0] = batch
                self._reports_ready.set()
                return False
            log.error(
                "reporting %d result(s) failed (%s); their leases will expire and they run again", len(batch), exc
            )
            return False
        for report, outcome in zip(batch, outcomes, strict=True):
            if not hasattr(outcome, "status"):
                log.warning("result of %s refused: %s", report.task_id, outcome.message)
        return True

    async def _flush_reports(self) -> None:
        while self._reports:
            await self._send_batch()

    # leases and progress

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.heartbeat_every / 2))
            due = time.monotonic() - self.heartbeat_every
            stale = [lease for lease in self._leases.values() if lease.extended <= due and not lease.given_back]
            await asyncio.gather(*(self._extend(lease) for lease in stale))

    async def _extend(self, lease: _Lease) -> None:
        try:
            await self.client.heartbeat(lease.task.id, extend_seconds=self.lease_seconds)
            lease.extended = time.monotonic()
        except (errors.NotOwner, errors.NotFound):
            log.warning("lease of %s lost; dropping its work", lease.task.id)
            lease.lost = True
            if lease.runner is not None:
                lease.runner.cancel()
        except errors.CodeqError as exc:
            log.warning("heartbeat of %s failed (%s); trying again", lease.task.id, exc)

    def _publish(self, task_id: str, value: Any) -> None:
        assert self._loop is not None
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # queued now, so a report made right after the call sends it first
            self._queue_progress(task_id, value)
        else:
            self._loop.call_soon_threadsafe(self._queue_progress, task_id, value)

    def _queue_progress(self, task_id: str, value: Any) -> None:
        if task_id not in self._leases:
            return
        self._progress[task_id] = value
        if task_id not in self._progress_senders:
            self._progress_senders[task_id] = asyncio.create_task(self._send_progress(task_id))

    async def _send_progress(self, task_id: str) -> None:
        try:
            while task_id in self._progress:
                value = self._progress.pop(task_id)
                try:
                    await self.client.progress(task_id, value)
                except errors.CodeqError as exc:
                    log.warning("progress of %s not published (%s)", task_id, exc)
        finally:
            self._progress_senders.pop(task_id, None)

    async def _progress_sent(self, task_id: str) -> None:
        """Wait for the task's progress to be sent: the platform refuses it once the task has ended."""
        sender = self._progress_senders.get(task_id)
        if sender is not None:
            await asyncio.shield(sender)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
