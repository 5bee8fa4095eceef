from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """The records of outbound webhooks: delivery attempts and the tenants' signing secrets."""

    name = "codeq_platform.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from codeq_platform.webhooks import signals

        signals.connect()
