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

"Run now" (``run_now``, the console's button) creates one task outside the slots, exactly once per
request: the request's id is part of the task's idempotency key, so a form sent twice (a double click,
a reload) gets the task of the first back. It leaves the next slot alone.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from django.utils import timezone

from codeq_platform.base import kv
from codeq_platform.engine import Enqueued, NewTask
from codeq_platform.errors import CodeqError, InvalidInput
from codeq_platform.scheduler import cron, selectors, services
from codeq_platform.scheduler.models import Schedule
from tenants.services import record_audit

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
    timing = cron.parse(schedule.cron, schedule.time_zone)
    slot = timing.latest_at(now)
    enqueued = _enqueue(schedule, slot_key(schedule, slot))
    return services.record_schedule_run(
        schedule=schedule, slot=slot, task_id=enqueued.task.id, next_run_at=timing.next_after(now)
    )


def run_now(*, schedule: Schedule, actor: str, request_id: str) -> Enqueued:
    """Create ``schedule``'s task now, once per ``request_id`` (a UUID the form carries): a repeat gets the
    first task back with ``created`` False. A created task becomes the schedule's last run and is
    audited as ``schedule.run_now``; the next slot stays as it was."""
    try:
        request = uuid.UUID(request_id)
    except ValueError:
        raise InvalidInput("this form has expired; open the page again", field="request_id") from None
    enqueued = _enqueue(schedule, f"schedule:{schedule.schedule_id}:now:{request}")
    if enqueued.created:
        Schedule.objects.filter(pk=schedule.pk).update(last_run_at=timezone.now(), last_task_id=enqueued.task.id)
        record_audit(tenant=schedule.tenant, actor=actor, action="schedule.run_now", target=schedule.name,
                     task_ids=[enqueued.task.id])  # fmt: skip
    return enqueued


def _enqueue(schedule: Schedule, idempotency_key: str) -> Enqueued:
    """Enqueue ``schedule``'s task under ``idempotency_key``, within its tenant's limits."""
    tenant = schedule.tenant
    kv.register_tenant(tenant.slug, tenant.shards)
    max_live = -(-tenant.max_queued_tasks // tenant.shards) if tenant.max_queued_tasks else 0
    return kv.sync_engine().enqueue(
        tenant.slug,
        NewTask(
            command=schedule.command,
            payload=schedule.payload,
            priority=schedule.priority,
            max_attempts=schedule.max_attempts or None,
            idempotency_key=idempotency_key,
            webhook=schedule.webhook,
        ),
        max_live=max_live,
        payload_limit=tenant.max_payload_bytes,
    )
