"""``/metrics`` in Prometheus' text format (prometheus-client).

Queue figures are read from the store at scrape time, per tenant and command, without scanning any
queue: ready / delayed / in-flight / DLQ depth, oldest ready age, and the store's cumulative created /
completed / failed / dead-lettered counters. The scheduler processes' loops and jobs come from their
heartbeats in the store (``codeq_platform.scheduler.heartbeat``); this process's metrics flusher
(``codeq_platform.api.recorder``) from its own state. Request latency is a histogram per API operation; with
several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` so a scrape sums them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import redis
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from codeq_platform.api import recorder, wakeups
from codeq_platform.base import db, kv
from codeq_platform.errors import StoreUnavailable
from codeq_platform.scheduler import heartbeat
from tenants import selectors

REQUEST_SECONDS = Histogram(
    "codeq_request_seconds",
    "API request latency by operation",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class _Snapshot:
    """A collector over figures read just before ``generate_latest`` runs."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


async def _queue_families() -> list[Metric]:
    gauges = {
        name: GaugeMetricFamily(f"codeq_queue_{name}", help_text, labels=["tenant", "command"])
        for name, help_text in (
            ("ready", "tasks ready to claim"),
            ("delayed", "tasks waiting for their run time or retry"),
            ("in_flight", "tasks leased to a worker"),
            ("dlq", "dead-lettered tasks"),
            ("oldest_ready_age_seconds", "age of the oldest ready task"),
        )
    }
    counters = {
        name: CounterMetricFamily(
            f"codeq_tasks_{name}", f"tasks {name.replace('_', ' ')}", labels=["tenant", "command"]
        )
        for name in ("created", "completed", "failed", "dead_lettered")
    }
    tenants = await db.run(lambda: [(t.slug, t.shards) for t in selectors.all_tenants().filter(active=True)])
    engine = kv.async_engine()
    now_ms = int(time.time() * 1000)
    for slug, shards in tenants:
        kv.register_tenant(slug, shards)
        for command in await engine.commands(slug):
            s = await engine.queue_stats(slug, command)
            labels = [slug, command]
            gauges["ready"].add_metric(labels, s.ready)
            gauges["delayed"].add_metric(labels, s.delayed)
            gauges["in_flight"].add_metric(labels, s.in_flight)
            gauges["dlq"].add_metric(labels, s.dlq)
            age = max(0, now_ms - s.oldest_ready_ms) / 1000 if s.oldest_ready_ms is not None else 0
            gauges["oldest_ready_age_seconds"].add_metric(labels, age)
            counters["created"].add_metric(labels, s.created)
            counters["completed"].add_metric(labels, s.completed)
            counters["failed"].add_metric(labels, s.failed)
            counters["dead_lettered"].add_metric(labels, s.dead)
    return [*gauges.values(), *counters.values()]


async def _scheduler_families() -> list[Metric]:
    age = GaugeMetricFamily("codeq_scheduler_heartbeat_age_seconds", "seconds since the scheduler process's "
                            "last heartbeat", labels=["process"])  # fmt: skip
    up = GaugeMetricFamily("codeq_scheduler_loop_up", "1 while the background loop runs", labels=["process", "loop"])
    restarts = CounterMetricFamily("codeq_scheduler_loop_restarts", "times the loop had ended and was started again",
                                   labels=["process", "loop"])  # fmt: skip
    failures = GaugeMetricFamily("codeq_scheduler_job_failures", "the periodic job's runs that failed in a row",
                                 labels=["process", "job"])  # fmt: skip
    for beat in await heartbeat.read(kv.async_engine().link, settings.CODEQ_KV_PREFIX):
        age.add_metric([beat.process], beat.age_seconds)
        if not beat.fresh:
            continue
        for name, loop in beat.loops.items():
            up.add_metric([beat.process, name], 1 if loop["alive"] else 0)
            restarts.add_metric([beat.process, name], loop["restarts"])
        for name, job in beat.jobs.items():
            failures.add_metric([beat.process, name], job["failures"])
    return [age, up, restarts, failures]


def _recorder_families() -> list[Metric]:
    state = recorder.state()
    up = GaugeMetricFamily("codeq_recorder_up", "1 while this process's metrics flusher runs")
    up.add_metric([], 1 if state.alive else 0)
    restarts = CounterMetricFamily("codeq_recorder_restarts", "times the metrics flusher had stopped and was "
                                   "started again")  # fmt: skip
    restarts.add_metric([], state.restarts)
    failures = CounterMetricFamily("codeq_recorder_flush_failures", "metrics flushes the store refused")
    failures.add_metric([], state.flush_failures)
    dropped = CounterMetricFamily("codeq_recorder_dropped_samples", "samples dropped while the store refused "
                                  "flushes for too long")  # fmt: skip
    dropped.add_metric([], state.dropped)
    return [up, restarts, failures, dropped]


def _wakeup_families() -> list[Metric]:
    listener = wakeups.current()
    summary = listener.summary if listener is not None else "idle"
    up = GaugeMetricFamily("codeq_wakeup_listener_up", "1 while this process's wake-up listener is subscribed "
                           "or not yet needed (no long-poll so far)")  # fmt: skip
    up.add_metric([], 1 if summary in ("ok", "idle") else 0)
    restarts = CounterMetricFamily("codeq_wakeup_listener_restarts", "times the wake-up listener had stopped "
                                   "and was started again")  # fmt: skip
    restarts.add_metric([], listener.restarts if listener is not None else 0)
    failures = CounterMetricFamily("codeq_wakeup_listener_failures", "times the wake-up listener lost its "
                                   "subscription and retried")  # fmt: skip
    failures.add_metric([], listener.failures if listener is not None else 0)
    return [up, restarts, failures]


async def _dependency_families() -> list[Metric]:
    """The figures read from the store and the database, and whether each answered: a scrape during an
    outage still answers, saying what is down (``codeq_store_up`` / ``codeq_database_up`` at 0)."""
    store_up = GaugeMetricFamily("codeq_store_up", "1 when the queue store answered this scrape")
    database_up = GaugeMetricFamily("codeq_database_up", "1 when the database answered this scrape")
    families: list[Metric] = []
    store, database = 1, 1
    try:
        families += await _queue_families()
    except (redis.RedisError, StoreUnavailable):
        store = 0
    except DatabaseError:
        database = 0
    try:
        families += await _scheduler_families()
    except (redis.RedisError, StoreUnavailable):
        store = 0
    store_up.add_metric([], store)
    database_up.add_metric([], database)
    return [store_up, database_up, *families]


async def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus scrape endpoint (no auth, like /healthz; keep it off the public internet)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Process())
    registry.register(_Snapshot(await _dependency_families() + _recorder_families() + _wakeup_families()))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _Process:
    """This process's own request histograms (single-process deployments)."""

    def collect(self) -> Iterable[Metric]:
        return REQUEST_SECONDS.collect()
