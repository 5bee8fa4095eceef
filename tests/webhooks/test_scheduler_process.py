"""``manage.py codeq_scheduler`` as a real process delivers result callbacks, and on SIGTERM gives a
delivery still in flight back to the queue instead of losing it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from codeq_platform.base import kv
from codeq_platform.engine import NewTask
from codeq_platform.webhooks import deliveries
from codeq_platform.webhooks.models import Delivery
from tests.processes import child_database_url
from tests.webhooks.receivers import Receiver

pytestmark = pytest.mark.django_db(
    transaction=True,
    available_apps=["django.contrib.contenttypes", "django.contrib.auth", "tenants", "codeq_platform.webhooks"],
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scheduler(settings):
    env = {**os.environ, "DATABASE_URL": child_database_url(), "CODEQ_KV_URL": django_settings.CODEQ_KV_URL,
           "CODEQ_KV_PREFIX": settings.CODEQ_KV_PREFIX, "SECRET_KEY": "test-only-django-secret-key",
           "CODEQ_CACHE_PREFIX": f"{settings.CODEQ_KV_PREFIX}:cache", "PYTHONUNBUFFERED": "1",
           "CODEQ_WEBHOOK_ALLOW_PRIVATE": "1", "CODEQ_WEBHOOK_STOP_GRACE_SECONDS": "0.5"}  # fmt: skip
    process = subprocess.Popen([sys.executable, "manage.py", "codeq_scheduler"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout.readline().startswith("codeq scheduler running"), process.stderr.read()
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(10)


def test_the_scheduler_delivers_callbacks_and_gives_one_in_flight_back_on_sigterm(tenant, scheduler):
    receiver = Receiver(script=[200, "slow:10"])
    try:
        kv.register_tenant(tenant.slug, tenant.shards)
        engine = kv.sync_engine()
        for n in range(2):
            task = engine.enqueue(tenant.slug, NewTask("render", {"n": n}, webhook=receiver.url())).task
            engine.claim(tenant.slug, "w", ["render"])
            engine.complete(tenant.slug, task.id, "w", {"n": n})
            first = receiver.wait_for(n + 1)[n]
            assert json.loads(first.body)["taskId"] == task.id
        started = time.monotonic()
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(20) == 0
        assert time.monotonic() - started < 10
    finally:
        receiver.stop()
    stats = engine.queue_stats(deliveries.INTERNAL_TENANT, deliveries.COMMAND)
    assert (stats.ready, stats.in_flight, stats.completed) == (1, 0, 1)
    [given_back] = engine.ready(deliveries.INTERNAL_TENANT, deliveries.COMMAND).tasks
    assert given_back.attempts == 0
    assert Delivery.objects.get(task_id=task.id).attempts == 0
