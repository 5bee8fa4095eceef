"""``codeq_reseal``: seal every stored webhook secret again under the first of ``CODEQ_SEALING_KEYS``.

Rolling a sealing key: put the new key first and keep the old one after it, run this, then drop the
old key (tenants/sealing.py).
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from codeq_platform.webhooks.sealing import SealedSecretField


class Command(BaseCommand):
    help = "Seal every stored webhook secret again under the first sealing key."

    def handle(self, *args, **options) -> None:
        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.get_fields() if isinstance(f, SealedSecretField)]
            if not fields:
                continue
            with transaction.atomic():
                for row in model.objects.select_for_update().only("pk", *fields):
                    row.save(update_fields=fields)
                    total += 1
        self.stdout.write(f"Resealed the secrets of {total} row(s).")
