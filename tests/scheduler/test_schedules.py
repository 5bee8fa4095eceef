"""The ``schedules`` job against the real store and database: one task per slot, no burst, pause, DST."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
from django.db import connection

from codeq_platform.base import kv
from codeq_platform.scheduler import schedules, services
from codeq_platform.scheduler.models import Schedule

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def put(tenant, name="nightly", now=T0, **spec) -> Schedule:
    fields = {"cron": "*/5 * * * *", "command": "report", "payload": {"kind": "summary"}, **spec}
    return services.put_schedule(tenant=tenant, name=name, spec=services.ScheduleSpec(**fields), now=now).schedule


def ready(tenant, command="report") -> list:
    return kv.sync_engine().ready(tenant.slug, command, limit=100).tasks


def test_a_due_slot_creates_one_task_and_is_recorded(tenant):
    schedule = put(tenant, priority=7, max_attempts=3)
    assert schedule.next_run_at == T0 + timedelta(minutes=5)

    assert schedules.fire_due(now=T0 + timedelta(minutes=5, seconds=0.4)) == 1

    [task] = ready(tenant)
    assert (task.command, orjson.loads(task.payload), task.priority, task.max_attempts) == (
        "report",
        {"kind": "summary"},
        7,
        3,
    )
    schedule.refresh_from_db()
    assert schedule.last_run_at == T0 + timedelta(minutes=5) and schedule.last_task_id == task.id
    assert schedule.next_run_at == T0 + timedelta(minutes=10) and schedule.version == 1
    assert task.idempotency_key == f"schedule:{schedule.schedule_id}:2026-06-01T12:05:00Z"


def test_a_slot_is_not_fired_twice_nor_before_its_time(tenant):
    put(tenant)

    assert schedules.fire_due(now=T0 + timedelta(minutes=4, seconds=59)) == 0
    assert schedules.fire_due(now=T0 + timedelta(minutes=5)) == 1
    assert schedules.fire_due(now=T0 + timedelta(minutes=5, seconds=1)) == 0
    assert len(ready(tenant)) == 1


def test_after_downtime_only_the_latest_missed_slot_fires(tenant):
    schedule = put(tenant, cron="@every 30s")

    assert schedules.fire_due(now=T0 + timedelta(hours=2, seconds=45)) == 1

    [task] = ready(tenant)
    schedule.refresh_from_db()
    assert schedule.last_run_at == T0 + timedelta(hours=2, seconds=30)
    assert schedule.next_run_at == T0 + timedelta(hours=2, minutes=1)
    assert task.idempotency_key.endswith("T14:00:30Z")
    assert schedules.fire_due(now=T0 + timedelta(hours=2, seconds=59)) == 0


def test_a_slot_fired_again_after_a_lost_record_gives_back_the_same_task(tenant):
    schedule = put(tenant)
    slot = schedule.next_run_at
    schedules.fire_due(now=slot)
    first = Schedule.objects.get(pk=schedule.pk).last_task_id
    # As if the process had died after enqueueing, before recording the slot:
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=slot, last_run_at=None, last_task_id="")

    assert schedules.fire_due(now=slot + timedelta(seconds=2)) == 1

    assert Schedule.objects.get(pk=schedule.pk).last_task_id == first
    assert [t.id for t in ready(tenant)] == [first]


@pytest.mark.django_db(transaction=True)
def test_two_runners_racing_create_exactly_one_task_per_slot(tenant):
    for n in range(5):
        put(tenant, name=f"s{n}", cron="@every 1s")
    recorded = []

    def runner(barrier: threading.Barrier, now: datetime) -> None:
        barrier.wait()
        try:
            recorded.append(schedules.fire_due(now=now))
        finally:
            connection.close()  # each thread has its own; the test database is dropped at the end

    for tick in range(1, 11):
        barrier = threading.Barrier(2)
        now = T0 + timedelta(seconds=tick)
        threads = [threading.Thread(target=runner, args=(barrier, now)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    tasks = ready(tenant)
    assert len(tasks) == 5 * 10 and sum(recorded) == 5 * 10
    assert len({t.idempotency_key for t in tasks}) == 50
    for schedule in Schedule.objects.all():
        assert schedule.last_run_at == T0 + timedelta(seconds=10)


def test_a_paused_schedule_never_fires_and_resumes_from_the_next_slot(tenant):
    put(tenant, paused=True)

    assert schedules.fire_due(now=T0 + timedelta(days=3)) == 0

    resumed = put(tenant, now=T0 + timedelta(days=3, minutes=1))
    assert resumed.next_run_at == T0 + timedelta(days=3, minutes=5)
    assert schedules.fire_due(now=T0 + timedelta(days=3, minutes=5)) == 1
    assert len(ready(tenant)) == 1


def test_schedules_of_an_inactive_tenant_wait(tenant):
    put(tenant)
    tenant.active = False
    tenant.save()

    assert schedules.fire_due(now=T0 + timedelta(hours=1)) == 0
    assert ready(tenant) == []


def test_a_spec_changed_while_firing_is_not_overwritten(tenant):
    schedule = put(tenant)
    stale = Schedule.objects.get(pk=schedule.pk)
    put(tenant, priority=9)

    assert schedules.fire(stale, T0 + timedelta(minutes=5)) is False

    fresh = Schedule.objects.get(pk=schedule.pk)
    assert fresh.version == 2 and fresh.last_run_at is None and fresh.next_run_at == T0 + timedelta(minutes=5)


def test_a_failing_schedule_is_logged_retried_and_does_not_block_the_others(tenant, caplog):
    put(tenant, name="big", payload={"blob": "x" * 2000})
    put(tenant, name="small")
    tenant.max_payload_bytes = 1000
    tenant.save()

    with caplog.at_level(logging.WARNING, logger="codeq.scheduler"):
        assert schedules.fire_due(now=T0 + timedelta(minutes=5)) == 1
        assert schedules.fire_due(now=T0 + timedelta(minutes=5, seconds=1)) == 0

    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "schedule big of tenant acme did not fire" in record.message
    assert "payload exceeds 1000 bytes" in record.message
    tenant.max_payload_bytes = 256 * 1024
    tenant.save()
    assert schedules.fire_due(now=T0 + timedelta(minutes=6)) == 1
    big = Schedule.objects.get(name="big")
    assert big.last_run_at == T0 + timedelta(minutes=5) and big.next_run_at == T0 + timedelta(minutes=10)
    assert len(ready(tenant)) == 2


def test_an_unexpected_failure_keeps_its_traceback_once_per_slot(tenant, caplog, monkeypatch):
    def broken(**_):
        raise RuntimeError("recording is broken")

    put(tenant, name="hourly")
    monkeypatch.setattr(services, "record_schedule_run", broken)
    with caplog.at_level(logging.WARNING, logger="codeq.scheduler"):
        for second in range(3):
            schedules.fire_due(now=T0 + timedelta(minutes=5, seconds=second))
    [record] = caplog.records
    assert record.levelno == logging.ERROR and "recording is broken" in caplog.text
    assert record.exc_info is not None and "schedule hourly of tenant acme did not fire" in record.message


def _local_runs(tenant, cron: str, start: datetime, ticks: int) -> list[str]:
    """Run the job at each slot in turn from ``start``; the local times of the slots that fired."""
    schedule = put(tenant, cron=cron, time_zone="Europe/Berlin", now=start)
    fired = []
    for _ in range(ticks):
        schedule.refresh_from_db()
        assert schedules.fire_due(now=schedule.next_run_at + timedelta(seconds=1)) == 1
        schedule.refresh_from_db()
        fired.append(schedule.last_run_at.astimezone(BERLIN).strftime("%m-%d %H:%M%z"))
    return fired


def test_a_daily_slot_in_the_spring_forward_gap_fires_once_at_the_first_valid_time(tenant):
    runs = _local_runs(tenant, "30 2 * * *", datetime(2026, 3, 28, 12, tzinfo=UTC), 3)

    assert runs == ["03-29 03:00+0200", "03-30 02:30+0200", "03-31 02:30+0200"]


def test_a_daily_slot_in_the_repeated_fall_back_hour_fires_once(tenant):
    runs = _local_runs(tenant, "30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=UTC), 3)

    assert runs == ["10-25 02:30+0200", "10-26 02:30+0100", "10-27 02:30+0100"]


def test_a_half_hourly_rule_keeps_running_through_the_repeated_hour(tenant):
    runs = _local_runs(tenant, "*/30 * * * *", datetime(2026, 10, 24, 23, 15, tzinfo=UTC), 6)

    assert runs == [
        "10-25 01:30+0200", "10-25 02:00+0200", "10-25 02:30+0200",
        "10-25 02:00+0100", "10-25 02:30+0100", "10-25 03:00+0100",
    ]  # fmt: skip
    assert len(ready(tenant)) == 6


def test_a_zone_shifts_the_slot_in_utc(tenant):
    new_york = put(tenant, name="ny", cron="0 9 * * *", time_zone="America/New_York")
    tokyo = put(tenant, name="tokyo", cron="0 9 * * *", time_zone="Asia/Tokyo")

    assert new_york.next_run_at == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    assert tokyo.next_run_at == datetime(2026, 6, 2, 0, 0, tzinfo=UTC)
