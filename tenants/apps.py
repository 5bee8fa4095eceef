"""Django app configuration of the tenants app."""

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    """The control plane's records and commands."""

    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants import receivers  # noqa: F401 (connects the access log's signal receivers)
