"""Django admin of recurring schedules: read-only, since writes go through the schedule service."""

from django.contrib import admin

from codeq_platform.scheduler.models import Schedule


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "cron", "time_zone", "command", "paused", "next_run_at", "last_run_at")
    list_filter = ("paused", "tenant")
    search_fields = ("name", "command", "tenant__slug")

    # Writes go through the API's service, which checks the rule and keeps next_run_at and version right.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
