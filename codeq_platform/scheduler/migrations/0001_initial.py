"""Schedules move here from the tenants app: the model is taken over as it stands, its table untouched
(``0002`` renames it), so no row is copied and none can be lost."""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tenants", "0004_sealed_secrets"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Schedule",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("schedule_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        ("name", models.CharField(max_length=63)),
                        ("cron", models.CharField(max_length=200)),
                        ("time_zone", models.CharField(default="UTC", help_text="IANA zone name", max_length=64)),
                        ("command", models.CharField(max_length=200)),
                        ("payload", models.JSONField(default=dict)),
                        ("priority", models.PositiveSmallIntegerField(default=0)),
                        ("max_attempts", models.PositiveSmallIntegerField(
                            default=0, help_text="0 = the platform's default")),
                        ("webhook", models.CharField(blank=True, default="", max_length=2048)),
                        ("paused", models.BooleanField(default=False)),
                        ("version", models.PositiveIntegerField(default=1)),
                        ("next_run_at", models.DateTimeField(blank=True, null=True)),
                        ("last_run_at", models.DateTimeField(blank=True, null=True)),
                        ("last_task_id", models.CharField(blank=True, default="", max_length=200)),
                        ("created", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("updated", models.DateTimeField(default=django.utils.timezone.now)),
                        ("tenant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                     related_name="schedules", to="tenants.tenant")),
                    ],
                    options={
                        "db_table": "tenants_schedule",
                        "ordering": ("tenant__slug", "name"),
                        "indexes": [models.Index(fields=["paused", "next_run_at"], name="schedule_due")],
                        "constraints": [
                            models.UniqueConstraint(fields=("tenant", "name"), name="schedule_one_name_per_tenant")
                        ],
                    },
                ),
            ],
        ),
    ]  # fmt: skip
