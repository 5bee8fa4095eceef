"""Django admin of webhook subscriptions. Secrets never appear here; a subscription is created through the
service, which shows its secret once."""

from django.contrib import admin
from django.db import models

from codeq_platform.webhooks.models import WebhookSubscription


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("url", "tenant", "active", "paused_reason", "created")
    list_filter = ("active", "tenant")
    search_fields = ("url", "tenant__slug")
    exclude = ("secret", "previous_secret")
    readonly_fields = ("previous_secret_expires_at", "created")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_add_permission(self, request) -> bool:
        # The signing secret is shown only to whoever creates the subscription, through the service.
        return False
