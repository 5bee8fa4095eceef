"""Reads of tenants' recurring schedules. Each takes the tenant it reads in; another tenant's is *not found*."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from codeq_platform.errors import NotFound
from codeq_platform.scheduler.models import Schedule
from tenants.models import Tenant


def schedules_for(*, tenant: Tenant) -> QuerySet[Schedule]:
    """The tenant's recurring schedules, by name."""
    return Schedule.objects.filter(tenant=tenant).order_by("name")


def schedule_for(*, tenant: Tenant, name: str) -> Schedule:
    """The tenant's schedule called ``name``; raises NotFound (also for another tenant's)."""
    try:
        return Schedule.objects.get(tenant=tenant, name=name)
    except Schedule.DoesNotExist:
        raise NotFound("schedule not found") from None


def due_schedules(*, now: datetime) -> QuerySet[Schedule]:
    """Unpaused schedules of active tenants whose next slot is at or before ``now``, earliest first."""
    return (
        Schedule.objects.filter(paused=False, next_run_at__lte=now, tenant__active=True)
        .select_related("tenant")
        .order_by("next_run_at", "id")
    )
