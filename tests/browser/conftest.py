"""Fixtures of the browser suites: the running platform (one per module) and a member who can log in."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from codeq_platform.engine.store import connect as connect_store
from tests.browser.platform import PASSWORD, Platform
from tests.conftest import JWT_SECRET
from tests.factories import MembershipFactory, UserFactory
from tests.processes import child_database_url


@pytest.fixture(scope="module")
def mail_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the platform's processes write the emails they send, one file per message."""
    return tmp_path_factory.mktemp("mail")


@pytest.fixture(scope="module")
def platform_settings() -> dict[str, str]:
    """Settings a module gives its platform on top of the suite's (override it in the module)."""
    return {}


@pytest.fixture(scope="module")
def platform(django_db_setup, django_db_blocker, mail_dir, platform_settings) -> Iterator[Platform]:
    """The app served by uvicorn on the test database, with the scheduler running beside it; webhooks
    may go to 127.0.0.1, where the tests' receivers listen; emails are written to ``mail_dir``."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    prefix = f"cqbrowser{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "DATABASE_URL": child_database_url(name), "CODEQ_KV_PREFIX": prefix,
           "CODEQ_KV_URL": settings.CODEQ_KV_URL, "CODEQ_JWT_SECRET": JWT_SECRET,
           "SECRET_KEY": "test-only-django-secret-key", "CODEQ_CACHE_PREFIX": f"{prefix}:cache",
           "CODEQ_WEBHOOK_ALLOW_PRIVATE": "1", "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
           "EMAIL_FILE_PATH": str(mail_dir), **platform_settings}  # fmt: skip
    running = Platform(env)
    try:
        running.start_web()
        yield running
    finally:
        running.stop()
        store = connect_store(settings.CODEQ_KV_URL)
        for key in store.scan_iter(match=f"{prefix}:*", count=1000):
            store.delete(key)
        store.close()


@pytest.fixture
def server(platform) -> str:
    return platform.base


def member(tenant, username: str, role: str) -> str:
    """A member of ``acme`` in ``role`` whose password is ``PASSWORD``; returns the username."""
    user = UserFactory(username=username)
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(tenant=tenant, user=user, role=role)
    return user.username


@pytest.fixture
def operator(tenant) -> str:
    return member(tenant, "olivia", "operator")


@pytest.fixture
def admin(tenant) -> str:
    return member(tenant, "ada", "admin")
