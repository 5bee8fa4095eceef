"""Run the platform's periodic jobs: ``manage.py codeq_scheduler``.

Several scheduler processes may run at once: a KV lock with a TTL makes each job single-runner, and
a killed holder is replaced within the lock's TTL. SIGTERM/SIGINT stop it cleanly after the running
job finishes. The wake-up listener (``codeq_platform.webhooks.wakeups``) runs beside the jobs on a
thread of its own, in every scheduler process, and stops with them; so does the webhook dispatcher
(``codeq_platform.webhooks.dispatcher``), whose in-flight deliveries finish or are given back.

No error of the store or the database stops a job or a loop: a failing job is logged and runs again
at its next tick; a loop whose thread ends anyway is started again within a second
(``codeq_platform.scheduler.heartbeat``), and the process's heartbeat in the store shows all of it
to ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from datetime import UTC, datetime
from functools import partial

import redis
from apscheduler.schedulers.blocking import BlockingScheduler
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from codeq_platform.base import kv
from codeq_platform.scheduler import jobs, schedules, stats
from codeq_platform.scheduler.heartbeat import JobHealth, Supervisor
from codeq_platform.scheduler.lock import JobLock
from codeq_platform.webhooks import deliveries
from codeq_platform.webhooks.dispatcher import Dispatcher
from codeq_platform.webhooks.wakeups import WakeupListener
from tenants import lifecycle, usage

log = logging.getLogger("codeq.scheduler")

JOBS = (
    ("sweep", jobs.sweep, 1.0),
    ("retention", jobs.retention, 60.0),
    ("stats", stats.broadcast, 1.0),
    ("schedules", schedules.fire_due, 1.0),
    ("webhook-outbox", deliveries.move_outbox, 1.0),
    ("webhook-outbox-all", partial(deliveries.move_outbox, every_tenant=True), 60.0),
    ("webhook-flags", deliveries.sync_all_event_flags, 60.0),
    ("webhook-retention", deliveries.prune, 60.0),
    ("tenant-deletions", lifecycle.run_deletions, 1.0),
    ("usage-rollup", usage.roll_up, 60.0),
)


class Command(BaseCommand):
    help = "Run the periodic jobs: lease expiry and delayed-task sweeps, retention, dashboard stats, schedules."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every job once and exit")

    def handle(self, *args, **options):
        client = kv.sync_engine().client  # the engine's client: RESP2, TLS and cluster alike
        prefix = settings.CODEQ_KV_PREFIX
        if options["once"]:
            for name, job, _ in JOBS:
                self.stdout.write(f"{name}: {job()}")
            return
        scheduler = BlockingScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 5})
        health = JobHealth()
        supervisor = Supervisor(client, prefix, {"dispatcher": Dispatcher.from_settings(),
                                                 "wakeups": WakeupListener.from_settings()}, health)  # fmt: skip
        locks = []
        for name, job, seconds in JOBS:
            # Three missed ticks and the lock lapses: a killed holder of a 1 s job is replaced within ~4 s.
            lock = JobLock(client, f"{prefix}:scheduler:lock:{name}", ttl_ms=int(max(seconds * 3, 3) * 1000))
            locks.append(lock)
            scheduler.add_job(self._guarded(name, job, lock, health), "interval", seconds=seconds, id=name)
        # Every process keeps its own loops running and reports them: no lock.
        scheduler.add_job(self._guarded("loops", supervisor.tick, None, health), "interval", seconds=1, id="loops",
                          next_run_time=datetime.now(UTC))  # fmt: skip

        stopping = threading.Event()
        stopped = threading.Event()

        def shut_down():
            stopping.wait()
            log.info("scheduler stopping")
            while not scheduler.running:  # a signal that came before start() waits for it
                time.sleep(0.05)
            scheduler.shutdown(wait=True)  # returns once the running jobs have finished
            stopped.set()

        # Started now, not from the signal handler: a handler that starts a thread deadlocks when the signal
        # lands while the main thread itself is starting one (both take threading's limbo lock).
        threading.Thread(target=shut_down, name="scheduler-shutdown", daemon=True).start()

        def stop(signum, frame):
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        supervisor.start()
        self.stdout.write("codeq scheduler running: " + ", ".join(f"{n} every {s:g}s" for n, _, s in JOBS))
        self.stdout.flush()
        scheduler.start()
        stopped.wait()
        supervisor.stop()
        for lock in locks:  # another process takes over at its next tick instead of after the TTL
            try:
                lock.release()
            except redis.RedisError:
                log.warning("could not release the scheduler lock %s; it lapses after its TTL", lock.key)
        self.stdout.write("codeq scheduler stopped")

    @staticmethod
    def _guarded(name, job, lock, health):
        def run():
            try:
                close_old_connections()
                if lock is not None and not lock.acquire():
                    return
                job()
                health.record(name, ok=True)
            except Exception:  # a failing job is logged and retried at its next tick, never fatal
                log.exception("scheduler job %s failed", name)
                health.record(name, ok=False)
            finally:
                with contextlib.suppress(Exception):  # a database that is down fails the next run, not this one
                    close_old_connections()

        return run
