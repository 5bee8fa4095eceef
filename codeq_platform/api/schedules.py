"""The contract's recurring schedules, ``/admin/schedules[/{name}]`` (reference §5); admins only.

The tenant is the token's: another tenant's schedule is absent. The scheduler process fires the slots
(``codeq_platform/scheduler/schedules.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

from codeq_platform import errors
from codeq_platform.api import inputs, outputs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, Values, by_method, endpoint
from codeq_platform.api.errors import json_response
from codeq_platform.base import db
from codeq_platform.scheduler import selectors as schedule_selectors
from codeq_platform.scheduler import services
from codeq_platform.scheduler.models import Schedule
from tenants import selectors
from tenants.models import Tenant


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment else None


def schedule_json(schedule: Schedule, tenant_slug: str) -> dict[str, Any]:
    """A schedule as the contract shows it; ``nextRunAt`` is null while paused."""
    return {
        "scheduleId": str(schedule.schedule_id),
        "tenantId": tenant_slug,
        "name": schedule.name,
        "spec": {
            "cron": schedule.cron, "timezone": schedule.time_zone, "command": schedule.command,
            "payload": schedule.payload, "priority": schedule.priority, "maxAttempts": schedule.max_attempts,
            "webhook": schedule.webhook, "paused": schedule.paused,
        },
        "version": schedule.version,
        "nextRunAt": _time(schedule.next_run_at),
        "lastRunAt": _time(schedule.last_run_at),
        "lastTaskId": schedule.last_task_id or None,
        "createdAt": _time(schedule.created),
        "updatedAt": _time(schedule.updated),
    }  # fmt: skip


def _tenant_of(principal: Principal) -> Tenant:
    return selectors.tenant_by_id(tenant_id=principal.tenant_id)


def _list(principal: Principal) -> list[dict[str, Any]]:
    return [
        schedule_json(s, principal.tenant_slug) for s in schedule_selectors.schedules_for(tenant=_tenant_of(principal))
    ]


TAGS = ("schedules",)


def _get(principal: Principal, name: str) -> dict[str, Any]:
    if not inputs.schedule_name(name):
        raise errors.NotFound("schedule not found")
    return schedule_json(
        schedule_selectors.schedule_for(tenant=_tenant_of(principal), name=name), principal.tenant_slug
    )


def _put(principal: Principal, name: str, spec: services.ScheduleSpec) -> tuple[dict[str, Any], bool]:
    put = services.put_schedule(tenant=_tenant_of(principal), name=name, spec=spec, actor=principal.actor)
    return schedule_json(put.schedule, principal.tenant_slug), put.created


def _delete(principal: Principal, name: str) -> None:
    if inputs.schedule_name(name):
        services.delete_schedule(tenant=_tenant_of(principal), name=name, actor=principal.actor)


@endpoint(
    "GET",
    roles=ADMIN,
    operation="admin",
    tags=TAGS,
    responses={200: outputs.ScheduleList},
    summary="The tenant's recurring schedules, by name",
    operation_id="schedules_list",
)
async def list_schedules(request: HttpRequest, principal: Principal) -> HttpResponse:
    return json_response({"schedules": await db.run(_list, principal)})


@endpoint(
    "GET",
    roles=ADMIN,
    operation="admin",
    tags=TAGS,
    responses={200: outputs.Schedule},
    raises=(404,),
    summary="One recurring schedule",
    operation_id="schedule_get",
)
async def get_schedule(request: HttpRequest, principal: Principal, name: str) -> HttpResponse:
    return json_response(await db.run(_get, principal, name))


@endpoint("PUT", roles=ADMIN, operation="admin", body=inputs.ScheduleBody, tags=TAGS, raises=(422,),
          responses={201: outputs.Schedule, 200: outputs.Schedule},
          summary="Create (201) or replace (200) a schedule; an identical spec changes nothing",
          operation_id="schedule_put",
          description="400 for a malformed body (unknown field, wrong JSON type); 422 with `field` for a spec "
                      "that cannot run (bad cron rule or name, unknown zone, value out of range).")  # fmt: skip
async def put_schedule(request: HttpRequest, principal: Principal, name: str, body: Values) -> HttpResponse:
    spec = inputs.schedule_spec(body)
    body, created = await db.run(_put, principal, name, spec)
    return json_response(body, 201 if created else 200)


@endpoint(
    "DELETE",
    roles=ADMIN,
    operation="admin",
    tags=TAGS,
    responses={204: None},
    summary="Delete a schedule (204 also when absent); the tasks it created stay",
    operation_id="schedule_delete",
)
async def delete_schedule(request: HttpRequest, principal: Principal, name: str) -> HttpResponse:
    await db.run(_delete, principal, name)
    return HttpResponse(status=204)


schedule = by_method(GET=get_schedule, PUT=put_schedule, DELETE=delete_schedule)
