"""Webhook subscriptions move here from the tenants app: the model is taken over as it stands, its table
untouched (``0005`` renames it), so no row or sealed secret is copied and none can be lost."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import codeq_platform.webhooks.models
import codeq_platform.webhooks.sealing


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_sealed_secrets"),
        ("webhooks", "0003_delivery_engine_task"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WebhookSubscription",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("url", models.URLField(max_length=2000, validators=[
                            django.core.validators.URLValidator(schemes=["http", "https"])])),
                        ("events", models.JSONField(default=list)),
                        ("commands", models.JSONField(blank=True, default=list, help_text="Empty = every command")),
                        ("secret", codeq_platform.webhooks.sealing.SealedSecretField(editable=False)),
                        ("previous_secret", codeq_platform.webhooks.sealing.SealedSecretField(
                            blank=True, default="", editable=False)),
                        ("previous_secret_expires_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        ("active", models.BooleanField(default=True)),
                        ("paused_reason", models.CharField(blank=True, default="", max_length=500)),
                        ("created", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("tenant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                     related_name="webhook_subscriptions", to="tenants.tenant")),
                    ],
                    options={"db_table": "tenants_webhooksubscription", "ordering": ("tenant__slug", "-created")},
                    bases=(codeq_platform.webhooks.models.RotatingSecret, models.Model),
                ),
                migrations.AlterField(
                    model_name="delivery",
                    name="subscription",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE,
                                            related_name="deliveries", to="webhooks.webhooksubscription"),
                ),
            ],
        ),
    ]  # fmt: skip
