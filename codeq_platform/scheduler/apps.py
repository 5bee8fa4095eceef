"""Django app configuration of the scheduler: its records (schedules) and its process command."""

from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    """Recurring schedules and the periodic jobs of ``manage.py codeq_scheduler``."""

    name = "codeq_platform.scheduler"
    label = "scheduler"
    verbose_name = "Scheduler"
    default_auto_field = "django.db.models.BigAutoField"
