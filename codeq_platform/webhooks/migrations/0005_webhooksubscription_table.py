"""The subscriptions table takes the webhooks app's name, once the tenants app has let go of the model."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0004_webhook_subscriptions_from_tenants"),
        ("tenants", "0005_schedules_and_subscriptions_moved"),
    ]

    operations = [
        migrations.AlterModelTable(name="webhooksubscription", table=None),
    ]
