"""The schedules table takes the scheduler app's name, once the tenants app has let go of the model."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0001_initial"),
        ("tenants", "0005_schedules_and_subscriptions_moved"),
    ]

    operations = [
        migrations.AlterModelTable(name="schedule", table=None),
    ]
