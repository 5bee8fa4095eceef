"""``manage.py codeq_scheduler`` as real processes on the test database and store: sweeping, recurring
schedules, two processes with the leader killed (SIGKILL), and a clean SIGTERM stop."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings

from codeq_platform.base import kv
from codeq_platform.engine import NewTask, State
from codeq_platform.engine.store import connect as connect_store
from codeq_platform.scheduler import services
from codeq_platform.scheduler.heartbeat import JobHealth
from codeq_platform.scheduler.lock import JobLock
from codeq_platform.scheduler.management.commands.codeq_scheduler import Command
from codeq_platform.scheduler.models import Schedule
from tests.processes import child_database_url

pytestmark = pytest.mark.django_db(transaction=True, available_apps=["django.contrib.contenttypes",
                                                                      "django.contrib.auth", "tenants"])  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def prefix(settings) -> Iterator[str]:
    name = f"cqproc{uuid.uuid4().hex[:10]}"
    settings.CODEQ_KV_PREFIX = name
    kv.reset()
    yield name
    kv.reset()
    client = connect_store(django_settings.CODEQ_KV_URL)
    for key in client.scan_iter(match=f"{name}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    client = connect_store(django_settings.CODEQ_KV_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def start_scheduler(prefix) -> Iterator[Callable[[], subprocess.Popen]]:
    """Start ``manage.py codeq_scheduler`` processes; any still running at the end are killed."""
    env = {**os.environ, "DATABASE_URL": child_database_url(), "CODEQ_KV_URL": django_settings.CODEQ_KV_URL,
           "CODEQ_KV_PREFIX": prefix, "SECRET_KEY": "test-only-django-secret-key",
           "CODEQ_CACHE_PREFIX": f"{prefix}:cache", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "manage.py", "codeq_scheduler"], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        started.append(process)
        assert process.stdout.readline().startswith("codeq scheduler running"), process.stderr.read()
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def wait_for(condition: Callable[[], object], seconds: float) -> float:
    """Poll ``condition`` until it is true; the seconds it took. Fails after ``seconds``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def _expired_lease(tenant) -> str:
    engine = kv.sync_engine()
    task = engine.enqueue(tenant.slug, NewTask("resize", {})).task
    engine.claim(tenant.slug, "w1", ["resize"], lease_ms=1000)
    return task.id


def _swept(tenant, task_id: str) -> bool:
    task = kv.sync_engine().get_task(tenant.slug, task_id)
    return task.state != State.LEASED and task.error == "LEASE_EXPIRED"


def test_the_scheduler_process_sweeps_an_expired_lease_and_stops_cleanly_on_sigterm(tenant, start_scheduler,
                                                                                     store, prefix):  # fmt: skip
    scheduler = start_scheduler()
    task_id = _expired_lease(tenant)

    wait_for(lambda: _swept(tenant, task_id), 60)

    assert store.exists(f"{prefix}:scheduler:lock:sweep")
    scheduler.send_signal(signal.SIGTERM)
    assert scheduler.wait(timeout=10) == 0
    assert scheduler.stdout.read().strip().endswith("codeq scheduler stopped")
    assert not store.exists(f"{prefix}:scheduler:lock:sweep")  # released: a standby takes over at once


def test_a_sigterm_right_at_startup_still_stops_cleanly(start_scheduler):
    scheduler = start_scheduler()

    scheduler.send_signal(signal.SIGTERM)

    assert scheduler.wait(timeout=10) == 0


def test_a_killed_leader_is_replaced_within_a_few_seconds(tenant, start_scheduler, store, prefix):
    lock = f"{prefix}:scheduler:lock:sweep"
    leader = start_scheduler()
    wait_for(lambda: store.exists(lock), 60)
    held_by = store.get(lock)
    standby = start_scheduler()
    time.sleep(2)
    assert store.get(lock) == held_by  # the standby waits while the leader renews

    leader.send_signal(signal.SIGKILL)
    leader.wait(timeout=10)
    task_id = _expired_lease(tenant)

    assert wait_for(lambda: store.get(lock) not in (None, held_by), 8) < 6  # TTL 3 s + one 1 s tick, and slack
    wait_for(lambda: _swept(tenant, task_id), 3)
    assert standby.poll() is None


def _slots(tenant) -> list[datetime]:
    """The slots of the schedule's tasks so far, in order."""
    tasks = kv.sync_engine().ready(tenant.slug, "tick", limit=100).tasks
    return sorted(datetime.fromisoformat(t.idempotency_key.split(":", 2)[2]) for t in tasks)


def test_two_scheduler_processes_create_one_task_per_slot(tenant, start_scheduler):
    spec = services.ScheduleSpec(cron="@every 1s", command="tick", payload={"n": 1})
    schedule = services.put_schedule(tenant=tenant, name="ticker", spec=spec).schedule
    first, second = start_scheduler(), start_scheduler()

    wait_for(lambda: len(_slots(tenant)) >= 2, 60)
    first.send_signal(signal.SIGKILL)
    killed_at = datetime.now(UTC)
    wait_for(lambda: sum(slot > killed_at + timedelta(seconds=2) for slot in _slots(tenant)) >= 2, 60)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=10) == 0

    tasks = kv.sync_engine().ready(tenant.slug, "tick", limit=100).tasks
    slots = _slots(tenant)
    assert len(set(slots)) == len(tasks) >= 4  # one task per slot
    assert slots[-1] > killed_at + timedelta(seconds=2)  # the survivor went on firing
    recorded = Schedule.objects.get(pk=schedule.pk)
    assert recorded.last_task_id in {t.id for t in tasks}


def test_a_schedule_that_fails_is_logged_and_retried_while_the_process_keeps_running(tenant, start_scheduler):
    spec = services.ScheduleSpec(cron="@every 1s", command="tick", payload={"blob": "x" * 2000})
    schedule = services.put_schedule(tenant=tenant, name="big", spec=spec).schedule
    tenant.max_payload_bytes = 1000
    tenant.save()
    scheduler = start_scheduler()

    time.sleep(2.5)
    assert scheduler.poll() is None
    assert Schedule.objects.get(pk=schedule.pk).last_task_id == ""
    tenant.max_payload_bytes = 256 * 1024
    tenant.save()

    wait_for(lambda: Schedule.objects.get(pk=schedule.pk).last_task_id, 3)
    scheduler.send_signal(signal.SIGTERM)
    assert scheduler.wait(timeout=10) == 0
    errors = scheduler.stderr.read()
    assert errors.count("schedule big of tenant acme did not fire") == 1, "once for its slot, not every tick"
    assert "payload exceeds 1000 bytes" in errors and "Traceback" not in errors


def test_a_job_that_raises_is_logged_with_its_name_and_runs_again_at_its_next_tick(prefix, caplog):
    calls = []

    def flaky() -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("the database went away")

    client = connect_store(django_settings.CODEQ_KV_URL)
    health = JobHealth()
    run = Command._guarded("flaky", flaky, JobLock(client, f"{prefix}:scheduler:lock:flaky", ttl_ms=3000), health)
    with caplog.at_level(logging.ERROR, logger="codeq.scheduler"):
        run()
        failing = health.snapshot()
        run()
    client.close()

    assert len(calls) == 2
    assert failing == {"flaky": {"failures": 1}} and health.snapshot() == {"flaky": {"failures": 0}}
    assert "scheduler job flaky failed" in caplog.text and "the database went away" in caplog.text
