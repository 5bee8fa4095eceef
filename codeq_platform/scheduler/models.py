"""The scheduler's records: tenants' recurring schedules."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from tenants.models import Tenant


class Schedule(models.Model):
    """A tenant's recurring task: a cron rule in an IANA zone and the task it creates at each slot.

    ``version`` counts changes of the spec; firing a slot only moves ``next_run_at``, ``last_run_at``
    and ``last_task_id``. ``next_run_at`` is null while the schedule is paused.
    """

    schedule_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=63)
    cron = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA zone name")
    command = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    priority = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=0, help_text="0 = the platform's default")
    webhook = models.CharField(max_length=2048, blank=True, default="")
    paused = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_task_id = models.CharField(max_length=200, blank=True, default="")
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("tenant__slug", "name")
        constraints = (models.UniqueConstraint(fields=("tenant", "name"), name="schedule_one_name_per_tenant"),)
        indexes = (models.Index(fields=("paused", "next_run_at"), name="schedule_due"),)

    def __str__(self) -> str:
        return f"{self.name} ({self.cron}, {self.tenant})"
