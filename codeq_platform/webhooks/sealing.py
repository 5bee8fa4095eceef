"""Webhook secrets at rest: sealed with Fernet (AES-CBC + HMAC-SHA256), never stored in clear.

Deliveries must be signed with the secret itself, so it cannot be hashed like a password; a copy of
the database alone (a backup, a replica, a leaked dump) must still not let anyone sign as us.

Keys: ``CODEQ_SEALING_KEYS``, comma-separated Fernet keys — the first seals, every one opens, so a
new key is rolled in by putting it first and re-saving (``manage.py codeq_reseal``). Without it, one
key is derived from ``SECRET_KEY`` (HKDF-SHA256), which ties the secrets to that key.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import migrations, models


@lru_cache(maxsize=4)
def _box(keys: str, secret_key: str) -> MultiFernet:
    if keys:
        try:
            return MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])
        except ValueError as exc:
            raise ImproperlyConfigured(f"CODEQ_SEALING_KEYS holds a key that is not a Fernet key: {exc}") from None
    if not secret_key:
        raise ImproperlyConfigured("Set CODEQ_SEALING_KEYS or SECRET_KEY to store webhook secrets.")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"codeq webhook secrets").derive(
        secret_key.encode()
    )
    return MultiFernet([Fernet(base64.urlsafe_b64encode(derived))])


def box() -> MultiFernet:
    return _box(settings.CODEQ_SEALING_KEYS, settings.SECRET_KEY)


def seal(secret: str) -> str:
    return box().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return box().decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored webhook secret does not open with the configured keys: CODEQ_SEALING_KEYS (or SECRET_KEY) "
            "changed without the old key being kept."
        ) from None


class SealedSecretField(models.TextField):
    """A secret the code reads and writes in clear and the database holds sealed."""

    def from_db_value(self, value, expression, connection):
        return unseal(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return seal(value) if value else value


def seal_stored(app_label: str, model_name: str, *columns: str) -> migrations.RunPython:
    """A migration step that seals the values of ``columns`` stored in clear before sealing existed
    (and opens them again when the migration is reversed)."""

    def convert(to_sealed: bool):
        def run(apps, schema_editor) -> None:
            model = apps.get_model(app_label, model_name)
            quote = schema_editor.quote_name
            table = quote(model._meta.db_table)
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(f"SELECT id, {', '.join(quote(c) for c in columns)} FROM {table}")
                for pk, *values in cursor.fetchall():
                    new = [_sealed(v) if to_sealed else _opened(v) for v in values]
                    if new != values:
                        assignments = ", ".join(f"{quote(c)} = %s" for c in columns)
                        cursor.execute(f"UPDATE {table} SET {assignments} WHERE id = %s", [*new, pk])

        return run

    return migrations.RunPython(convert(True), convert(False))


def _sealed(value: str) -> str:
    return value if not value or _opened(value) != value else seal(value)


def _opened(value: str) -> str:
    try:
        return box().decrypt(value.encode()).decode() if value else value
    except InvalidToken:
        return value
