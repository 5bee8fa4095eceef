from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Operator dashboard"


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin, signing in through the console's login form (``admin_site.ConsoleAdminSite``)."""

    default = False  # "dashboard" in INSTALLED_APPS means the dashboard's own configuration
    default_site = "dashboard.admin_site.ConsoleAdminSite"
