"""The ``schedules`` job: create each recurring schedule's task for its due slot, exactly once.

Exactly once holds by construction, whatever the number of scheduler processes and even if the job lock
lapses mid-run: the task is enqueued first, under an idempotency key made of the schedule's id and the
slot's time, and only then is the slot recorded with a compare-and-set on the schedule's version and
``next_run_at``. A second runner of the same slot gets the same task back from the engine and loses the
compare-and-set; a crash between the two steps makes the next tick enqueue the same key again, which
answers the task already created.

No catch-up burst: a schedule found late (the scheduler was down, or its tenant inactive) creates one
task, for the latest slot that has passed, and moves on to the first slot after now; the slots missed
before that one are skipped. Paused schedules have no ``next_run_at`` and are never due.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.utils import timezone

from codeq_platform.base import kv
from codeq_platform.engine import NewTask
from codeq_platform.errors import CodeqError
from codeq_platform.scheduler import cron, selectors, services
from codeq_platform.scheduler.models import Schedule

log = logging.getLogger("codeq.scheduler")


def slot_key(schedule: Schedule, slot: datetime) -> str:
    """The idempotency key of the task ``schedule`` creates for ``slot`` (shown on the task)."""
    return f"schedule:{schedule.schedule_id}:{slot.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


# The slot each failing schedule was last reported for: a schedule that cannot fire (payload over its
# tenant's limit, queue full) fails again every tick, and one line per slot says it all.
_reported: dict[int, datetime] = {}


def fire_due(now: datetime | None = None) -> int:
    """Create the task of every due schedule's slot; returns the slots this call recorded.

    A schedule that fails (store down, queue full) is tried again at the next tick, and the others
    still fire; its failure is logged once per slot, a known error as one line, anything else with
    its traceback.
    """
    now = now or timezone.now()
    fired = 0
    failing: dict[int, datetime] = {}
    for schedule in selectors.due_schedules(now=now):
        try:
            fired += fire(schedule, now)
        except Exception as exc:
            failing[schedule.pk] = schedule.next_run_at
            if _reported.get(schedule.pk) == schedule.next_run_at:
                continue
            where = (f"schedule {schedule.name} of tenant {schedule.tenant.slug} did not fire at "
                     f"{schedule.next_run_at}; retried every tick")  # fmt: skip
            if isinstance(exc, CodeqError):
                log.warning("%s: %s", where, exc)
            else:
                log.exception(where)
    _reported.clear()
    _reported.update(failing)
    return fired


def fire(schedule: Schedule, now: datetime) -> bool:
    """Create the task of ``schedule``'s latest slot at or before ``now`` and record it.

    False when another runner recorded the slot first or the spec changed meanwhile.
    """
    tenant = schedule.tenant
    timing = cron.parse(schedule.cron, schedule.time_zone)
    slot = timing.latest_at(now)
    kv.register_tenant(tenant.slug, tenant.shards)
    max_live = -(-tenant.max_queued_tasks // tenant.shards) if tenant.max_queued_tasks else 0
    enqueued = kv.sync_engine().enqueue(
        tenant.slug,
        NewTask(
            command=schedule.command,
            payload=schedule.payload,
            priority=schedule.priority,
            max_attempts=schedule.max_attempts or None,
            idempotency_key=slot_key(schedule, slot),
            webhook=schedule.webhook,
        ),
        max_live=max_live,
        payload_limit=tenant.max_payload_bytes,
    )
    return services.record_schedule_run(
        schedule=schedule, slot=slot, task_id=enqueued.task.id, next_run_at=timing.next_after(now)
    )
