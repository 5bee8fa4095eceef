"""The scheduler's jobs against the real store and database: sweeps, retention, single-runner locks."""

from __future__ import annotations

import io
import time

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from codeq_platform.base import kv
from codeq_platform.engine import NewTask, State, activity
from codeq_platform.engine.store import connect as connect_store
from codeq_platform.errors import NotFound
from codeq_platform.scheduler import jobs
from codeq_platform.scheduler.lock import JobLock


def test_sweep_returns_an_expired_lease_to_the_queue(tenant):
    engine = kv.sync_engine()
    task = engine.enqueue("acme", NewTask("resize", {})).task
    engine.claim("acme", "w1", ["resize"], lease_ms=1000)
    time.sleep(1.1)
    assert jobs.sweep() == 1
    swept = engine.get_task("acme", task.id)
    assert swept.state in (State.DELAYED, State.READY) and swept.error == "LEASE_EXPIRED"


def test_a_lease_the_index_lost_is_swept_once_retention_has_repaired_the_index(tenant):
    engine = kv.sync_engine()
    task = engine.enqueue("acme", NewTask("resize", {})).task
    engine.claim("acme", "w1", ["resize"], lease_ms=1000)
    client = connect_store(django_settings.CODEQ_KV_URL)
    client.delete(activity.keys(django_settings.CODEQ_KV_PREFIX)[0])  # as if the process died before writing it
    client.close()
    time.sleep(1.1)
    assert jobs.sweep() == 0

    jobs.retention()

    assert jobs.sweep() == 1
    assert engine.get_task("acme", task.id).error == "LEASE_EXPIRED"


def test_sweep_skips_inactive_tenants(tenant):
    engine = kv.sync_engine()
    engine.enqueue("acme", NewTask("resize", {}))
    engine.claim("acme", "w1", ["resize"], lease_ms=1000)
    tenant.active = False
    tenant.save()
    time.sleep(1.1)
    assert jobs.sweep() == 0


def test_retention_removes_finished_tasks_past_the_tenants_retention(tenant):
    tenant.result_retention_seconds = 0
    tenant.save()
    engine = kv.sync_engine()
    done = engine.enqueue("acme", NewTask("resize", {})).task
    pending = engine.enqueue("acme", NewTask("resize", {})).task
    engine.claim("acme", "w1", ["resize"])
    engine.complete("acme", done.id, "w1", {"ok": True})
    time.sleep(0.01)
    assert jobs.retention() == 1
    with pytest.raises(NotFound):
        engine.get_task("acme", done.id)
    assert engine.get_task("acme", pending.id).state == State.READY


def test_the_command_runs_every_job_once(tenant):
    kv.sync_engine().enqueue("acme", NewTask("resize", {}))  # the stats job visits it, the roll-up counts it
    out = io.StringIO()
    call_command("codeq_scheduler", "--once", stdout=out)
    assert out.getvalue().splitlines() == [
        "sweep: 0", "retention: 0", "stats: 1", "schedules: 0", "webhook-outbox: 0", "webhook-outbox-all: 0",
        "webhook-flags: 1", "webhook-retention: 0", "tenant-deletions: 0", "usage-rollup: 1",
    ]  # fmt: skip


def test_a_job_lock_has_one_holder_until_released_or_lapsed():
    client = connect_store(django_settings.CODEQ_KV_URL)
    key = f"{django_settings.CODEQ_KV_PREFIX}:scheduler:lock:test"
    first, second = JobLock(client, key, ttl_ms=300), JobLock(client, key, ttl_ms=300)
    assert first.acquire() and first.acquire()  # the holder renews
    assert not second.acquire()
    first.release()
    assert second.acquire()
    time.sleep(0.4)  # a killed holder's lock lapses
    assert first.acquire()
    client.close()
