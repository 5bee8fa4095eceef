"""Schedules and webhook subscriptions now belong to the scheduler and webhooks apps: the tenants app
forgets the models (their tables stay, taken over by those apps), and the content types follow them so
admin history and permissions keep pointing at the same rows."""

from django.db import migrations

MOVED = {"schedule": "scheduler", "webhooksubscription": "webhooks"}


def _relabel(apps, from_label: bool) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model, label in MOVED.items():
        old, new = ("tenants", label) if from_label else (label, "tenants")
        if not content_type.objects.filter(app_label=new, model=model).exists():
            content_type.objects.filter(app_label=old, model=model).update(app_label=new)


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("tenants", "0004_sealed_secrets"),
        ("scheduler", "0001_initial"),
        ("webhooks", "0004_webhook_subscriptions_from_tenants"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Schedule"),
                migrations.DeleteModel(name="WebhookSubscription"),
            ],
        ),
        migrations.RunPython(
            lambda apps, schema_editor: _relabel(apps, True), lambda apps, schema_editor: _relabel(apps, False)
        ),
    ]
