"""Writes of tenants' recurring schedules: create or replace, pause and resume, delete, and record a
fired slot.

A schedule that cannot run raises ``InvalidSchedule`` naming the field; every change is audited. The
API and the console both write through here, so a rule is checked in one place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from codeq_platform.engine import jsontext
from codeq_platform.engine.core import validate_command
from codeq_platform.errors import InvalidInput, InvalidSchedule, NotFound
from codeq_platform.scheduler import cron
from codeq_platform.scheduler.models import Schedule
from codeq_platform.webhooks.services import is_callback_url
from tenants.models import Tenant
from tenants.services import record_audit

SCHEDULE_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
SCHEDULE_MAX_ATTEMPTS = 100


@dataclass(frozen=True)
class ScheduleSpec:
    """A recurring schedule as its owner writes it (reference §5); ``put_schedule`` checks the values."""

    cron: str
    command: str
    time_zone: str = "UTC"
    payload: Any = field(default_factory=dict)
    priority: int = 0
    max_attempts: int = 0
    webhook: str = ""
    paused: bool = False


@dataclass(frozen=True)
class PutSchedule:
    """The schedule as stored after a PUT, and whether the PUT created it."""

    schedule: Schedule
    created: bool


def put_schedule(
    *,
    tenant: Tenant,
    name: str,
    spec: ScheduleSpec,
    actor: str = "system",
    now: datetime | None = None,
    action: str = "",
) -> PutSchedule:
    """Create or replace ``tenant``'s schedule ``name``; an identical spec changes nothing. The audit entry's
    action is ``action`` if given, else ``schedule.create`` / ``schedule.update``.

    A change bumps ``version``. The next slot is kept while the timing (cron, zone, paused) stays the
    same, and otherwise recomputed from ``now``: resuming never catches up the paused period. Raises
    InvalidSchedule naming the field.
    """
    timing = _checked_timing(tenant=tenant, name=name, spec=spec)
    spec = ScheduleSpec(**{**spec.__dict__, "cron": timing.expression})
    now = now or timezone.now()
    try:
        with transaction.atomic():
            return _put_schedule(tenant=tenant, name=name, spec=spec, timing=timing, actor=actor, now=now,
                                 action=action)  # fmt: skip
    except IntegrityError:
        # Another PUT created the same name between our read and our insert: this one is now an update.
        with transaction.atomic():
            return _put_schedule(tenant=tenant, name=name, spec=spec, timing=timing, actor=actor, now=now,
                                 action=action)  # fmt: skip


def _put_schedule(
    *, tenant: Tenant, name: str, spec: ScheduleSpec, timing: cron.Timing, actor: str, now: datetime, action: str
) -> PutSchedule:
    schedule = Schedule.objects.select_for_update().filter(tenant=tenant, name=name).first()
    created = schedule is None
    if schedule is None:
        schedule = Schedule(tenant=tenant, name=name, created=now)
    elif schedule_spec_of(schedule) == spec and _json_bytes(schedule.payload) == _json_bytes(spec.payload):
        return PutSchedule(schedule=schedule, created=False)
    else:
        schedule.version += 1
    if created or (schedule.cron, schedule.time_zone, schedule.paused) != (spec.cron, spec.time_zone, spec.paused):
        schedule.next_run_at = None if spec.paused else timing.next_after(now)
    schedule.cron, schedule.time_zone, schedule.command = spec.cron, spec.time_zone, spec.command
    schedule.payload, schedule.priority, schedule.max_attempts = spec.payload, spec.priority, spec.max_attempts
    schedule.webhook, schedule.paused, schedule.updated = spec.webhook, spec.paused, now
    schedule.save()
    detail = {"version": schedule.version, "cron": spec.cron, "paused": spec.paused}
    action = action or ("schedule.create" if created else "schedule.update")
    record_audit(tenant=tenant, actor=actor, action=action, target=name, detail=detail)
    return PutSchedule(schedule=schedule, created=created)


def schedule_spec_of(schedule: Schedule) -> ScheduleSpec:
    """The spec a stored schedule was written with."""
    return ScheduleSpec(
        cron=schedule.cron, command=schedule.command, time_zone=schedule.time_zone, payload=schedule.payload,
        priority=schedule.priority, max_attempts=schedule.max_attempts, webhook=schedule.webhook,
        paused=schedule.paused,
    )  # fmt: skip


def _json_bytes(value: Any) -> bytes:
    # Python's == takes 1, 1.0 and true for the same payload; the task would not be the same. The standard
    # library writes integers beyond 64 bits, which orjson refuses.
    return json.dumps(value, sort_keys=True).encode()


def check_schedule_payload(payload: Any) -> Any:
    """``payload`` if a schedule can store it: PostgreSQL's jsonb cannot hold the NUL character (a task's
    payload in the KV store can), and a stored value nests at most ``jsontext.MAX_DEPTH`` levels."""
    stack = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            raise InvalidSchedule("the payload of a schedule cannot hold the NUL character", field="payload")
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    try:
        jsontext.dumps_value(payload)
    except (TypeError, ValueError):
        raise InvalidSchedule(f"payload nests more than {jsontext.MAX_DEPTH} levels", field="payload") from None
    return payload


def set_paused(*, tenant: Tenant, name: str, paused: bool, actor: str) -> Schedule:
    """Pause or resume ``tenant``'s schedule ``name`` (NotFound if there is none). Resuming starts from the
    next slot after now, never catching up the paused period; audited as ``schedule.pause`` / ``resume``."""
    schedule = Schedule.objects.filter(tenant=tenant, name=name).first()
    if schedule is None:
        raise NotFound("schedule not found")
    if schedule.paused == paused:
        return schedule
    spec = ScheduleSpec(**{**schedule_spec_of(schedule).__dict__, "paused": paused})
    action = "schedule.pause" if paused else "schedule.resume"
    return put_schedule(tenant=tenant, name=name, spec=spec, actor=actor, action=action).schedule


def _checked_timing(*, tenant: Tenant, name: str, spec: ScheduleSpec) -> cron.Timing:
    if not SCHEDULE_NAME_RE.fullmatch(name):
        raise InvalidSchedule("a schedule name is a DNS label: 1-63 of a-z, 0-9 and '-', not at either end",
                              field="name")  # fmt: skip
    timing = cron.parse(spec.cron, spec.time_zone)
    try:
        validate_command(spec.command)
    except InvalidInput:
        raise InvalidSchedule("invalid command (1-200 characters without whitespace or '/')", field="command") from None
    if not 0 <= spec.priority <= 9:
        raise InvalidSchedule("priority is from 0 to 9", field="priority")
    if not 0 <= spec.max_attempts <= SCHEDULE_MAX_ATTEMPTS:
        raise InvalidSchedule("maxAttempts is from 0 (the platform's default) to 100", field="maxAttempts")
    if spec.webhook and not is_callback_url(spec.webhook):
        raise InvalidSchedule("webhook must be an absolute http(s) URL", field="webhook")
    check_schedule_payload(spec.payload)
    if len(jsontext.dumps(spec.payload)) > tenant.max_payload_bytes:
        raise InvalidSchedule(f"payload exceeds {tenant.max_payload_bytes} bytes", field="payload")
    return timing


def delete_schedule(*, tenant: Tenant, name: str, actor: str = "system") -> bool:
    """Remove ``tenant``'s schedule ``name``; False if there was none. Tasks it created stay."""
    deleted, _ = Schedule.objects.filter(tenant=tenant, name=name).delete()
    if deleted:
        record_audit(tenant=tenant, actor=actor, action="schedule.delete", target=name)
    return bool(deleted)


def record_schedule_run(*, schedule: Schedule, slot: datetime, task_id: str, next_run_at: datetime) -> bool:
    """Record that ``schedule`` created ``task_id`` for ``slot`` and move on to ``next_run_at``.

    Compare-and-set on the version and next slot the caller read: False when another scheduler
    recorded this slot first or the spec changed meanwhile, and nothing is written then.
    """
    return bool(
        Schedule.objects.filter(
            pk=schedule.pk, version=schedule.version, next_run_at=schedule.next_run_at, paused=False
        ).update(next_run_at=next_run_at, last_run_at=slot, last_task_id=task_id)
    )
