"""The stats job: snapshots from the engine's counters, per-minute history kept (bounded) in the store."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from codeq_platform.base import kv, rollups
from codeq_platform.engine import NewTask, activity
from codeq_platform.engine.store import connect as connect_store
from codeq_platform.scheduler import stats

MINUTE = 60_000
T0 = 1_800_000_000_000 // MINUTE * MINUTE + 5_000  # 5 s into a minute


def _finish(completed: int = 0, dead: int = 0) -> None:
    engine = kv.sync_engine()
    for i in range(completed + dead):
        engine.enqueue("acme", NewTask("media.resize", {"i": i}, max_attempts=1))
        task = engine.claim("acme", "w", ["media.resize"])[0]
        if i < completed:
            engine.complete("acme", task.id, "w", {"ok": True})
        else:
            engine.nack("acme", task.id, "w", reason="boom")


def _command(snapshot: dict) -> dict:
    return next(c for c in snapshot["commands"] if c["command"] == "media.resize")


def test_finished_tasks_are_counted_in_the_minute_they_finished(tenant):
    _finish(completed=1)
    stats.tenant_snapshot("acme", record=True, now_ms=T0)
    _finish(completed=2, dead=1)

    during = _command(stats.tenant_snapshot("acme", record=True, now_ms=T0 + 30_000))
    after = _command(stats.tenant_snapshot("acme", record=True, now_ms=T0 + MINUTE))

    assert (during["completed"][-1], during["failed"][-1]) == (2, 1)
    assert (after["completed"][-2:], after["failed"][-2:]) == ([2, 0], [1, 0])
    assert len(after["completed"]) == stats.HISTORY_MINUTES


def test_history_survives_a_restart_of_every_process(tenant):
    _finish(completed=1)
    stats.tenant_snapshot("acme", record=True, now_ms=T0)
    _finish(completed=3)
    stats.tenant_snapshot("acme", record=True, now_ms=T0 + MINUTE)
    kv.reset()

    later = stats.tenant_snapshot("acme", now_ms=T0 + 5 * MINUTE)

    assert _command(later)["completed"][-6:] == [0, 3, 0, 0, 0, 0]  # finished after the T0 look: next minute
    assert later["totals"]["completed"] == 3
    assert later["command_count"] == 1


def test_a_command_new_since_the_job_began_counts_tasks_finished_before_its_first_tick(tenant):
    stats.tenant_snapshot("acme", record=True, now_ms=T0)  # the job watches the tenant, which has no tasks yet
    _finish(completed=2, dead=1)

    first_sight = _command(stats.tenant_snapshot("acme", record=True, now_ms=T0 + 1000))

    assert (first_sight["completed"][-1], first_sight["failed"][-1]) == (2, 1)


def test_the_jobs_first_look_does_not_pour_the_past_into_this_minute(tenant):
    _finish(completed=3)

    first_look = _command(stats.tenant_snapshot("acme", record=True, now_ms=T0))

    assert sum(first_look["completed"]) == 0


def test_what_finished_while_the_job_did_not_look_counts_in_the_minute_it_looks_again(tenant):
    _finish(completed=1)
    stats.tenant_snapshot("acme", record=True, now_ms=T0)
    _finish(completed=1)
    stats.tenant_snapshot("acme", record=True, now_ms=T0 + 50_000)
    _finish(completed=2)  # the tenant was idle for minutes, then these finished just before the next look

    resumed = _command(stats.tenant_snapshot("acme", record=True, now_ms=T0 + 7 * MINUTE))

    assert resumed["completed"][-8:] == [1, 0, 0, 0, 0, 0, 0, 2]


def test_history_keeps_one_hour(tenant):
    for minute in range(70):
        _finish(completed=1)
        stats.tenant_snapshot("acme", record=True, now_ms=T0 + minute * MINUTE)
    store = connect_store(django_settings.CODEQ_KV_URL)

    snapshot = stats.tenant_snapshot("acme", now_ms=T0 + 69 * MINUTE)

    assert _command(snapshot)["completed"] == [1] * 60
    raw = store.hget(stats.history_key(django_settings.CODEQ_KV_PREFIX, "acme"), "media.resize")
    assert raw.count(b"[") <= stats.HISTORY_MINUTES + 1


def test_pages_reading_snapshots_do_not_write_history(tenant):
    _finish(completed=1)
    stats.tenant_snapshot("acme", now_ms=T0)
    stats.tenant_snapshot("acme", now_ms=T0 + MINUTE)
    store = connect_store(django_settings.CODEQ_KV_URL)

    assert not store.exists(stats.history_key(django_settings.CODEQ_KV_PREFIX, "acme"))


def test_oldest_ready_age_and_totals(tenant):
    engine = kv.sync_engine()
    first = engine.enqueue("acme", NewTask("media.resize", {})).task
    engine.enqueue("acme", NewTask("mail.send", {}))

    snapshot = stats.tenant_snapshot("acme", now_ms=first.created_ms + 90_000)

    assert snapshot["totals"]["ready"] == 2
    assert 90_000 <= snapshot["totals"]["oldest_ready_age_ms"] < 95_000
    assert [c["command"] for c in snapshot["commands"]] == ["mail.send", "media.resize"]


@pytest.mark.django_db(transaction=True)
async def test_the_job_publishes_each_tenants_snapshot_to_its_group(tenant, foreign_tenant):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(stats.group_name("acme"), channel)
    await database_sync_to_async(kv.sync_engine().enqueue)("acme", NewTask("media.resize", {}))

    sent = await database_sync_to_async(stats.broadcast)()
    message = await asyncio.wait_for(layer.receive(channel), 5)

    assert sent == 1  # globex is idle and nobody watches it
    assert message["type"] == stats.MESSAGE_TYPE
    assert message["snapshot"]["tenant"] == "acme" and message["snapshot"]["totals"]["ready"] == 1
    await layer.group_discard(stats.group_name("acme"), channel)


def test_the_job_visits_tenants_changed_lately_or_watched_not_idle_ones(tenant, foreign_tenant):
    engine = kv.sync_engine()
    prefix = django_settings.CODEQ_KV_PREFIX
    now = int(time.time() * 1000)
    assert stats.tenants_to_visit(now) == []

    engine.enqueue("acme", NewTask("media.resize", {}))
    engine.run(activity.watch(prefix, "globex", now + 1000))  # an overview open for one more second

    assert stats.tenants_to_visit(now) == ["acme", "globex"]
    # globex's overview has closed; acme's change is watched into the next minute, then 10 s more
    later = (now // MINUTE + 2) * MINUTE + stats.MINUTE_CLOSE_MS + 1
    assert stats.tenants_to_visit(later - MINUTE) == ["acme"]
    assert stats.tenants_to_visit(later) == []


def test_the_job_writes_ready_depths_into_the_metrics_rollups(tenant):
    engine = kv.sync_engine()
    for i in range(3):
        engine.enqueue("acme", NewTask("media.resize", {"i": i}))
    engine.enqueue("acme", NewTask("mail", {}))

    stats.broadcast()

    now = int(time.time() * 1000)
    scopes = ["media.resize", rollups.ALL]
    window = rollups.read_window(engine.link, django_settings.CODEQ_KV_PREFIX, "acme", "24h", now, scopes)
    assert window.depths("media.resize")[-1] == 3 and window.depths(rollups.ALL)[-1] == 4


def test_the_job_counts_what_was_dead_lettered_since_it_last_looked_as_failures(tenant):
    engine = kv.sync_engine()
    _finish(dead=1)  # before the job's first look: not poured into this minute

    stats.broadcast()
    _finish(dead=2)
    stats.broadcast()
    stats.broadcast()

    now = int(time.time() * 1000)
    scopes = ["media.resize", rollups.ALL]
    window = rollups.read_window(engine.link, django_settings.CODEQ_KV_PREFIX, "acme", "1h", now, scopes)
    assert sum(window.counts("media.resize", "bad")) == 2 and sum(window.counts(rollups.ALL, "bad")) == 2


@pytest.mark.django_db(transaction=True)
async def test_the_job_and_the_channel_layer_work_on_the_embedded_server(tenant, embedded_kv, settings):
    layer_settings = settings.CHANNEL_LAYERS["default"]
    settings.CODEQ_KV_URL = embedded_kv.url
    settings.CHANNEL_LAYERS = {"default": {**layer_settings, "CONFIG": {**layer_settings["CONFIG"],
                                                                        "hosts": [embedded_kv.url]}}}  # fmt: skip
    kv.reset()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(stats.group_name("acme"), channel)
    await database_sync_to_async(kv.sync_engine().enqueue)("acme", NewTask("media.resize", {}))

    await database_sync_to_async(stats.broadcast)()
    message = await asyncio.wait_for(layer.receive(channel), 5)

    assert message["snapshot"]["totals"]["ready"] == 1
    await layer.group_discard(stats.group_name("acme"), channel)
    kv.reset()
