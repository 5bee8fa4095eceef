"""Fixtures of the Django suites: isolated cache and JWT key, a tenant, tokens per role, a foreign tenant.

The root ``conftest.py`` (the engine's) provides the KV fixtures; names here do not shadow them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from codeq_platform.api.auth import forget_cached_grants
from codeq_platform.base import kv
from codeq_platform.base.embedded_kv import EmbeddedKV
from codeq_platform.engine.store import connect as connect_store
from tenants import bearer
from tests.factories import ApiTokenFactory, TenantFactory

JWT_SECRET = "test-only-jwt-secret-0123456789abcdef"


_OWN_KV: list[EmbeddedKV] = []


def _use_own_embedded_kv() -> None:
    """Without CODEQ_KV_URL the suites run on an embedded server of their own, stopped at the end (the
    settings only name the one ``make run`` would start; they start nothing)."""
    server = EmbeddedKV(Path(tempfile.mkdtemp(prefix="codeq-test-kv-")))
    server.start()
    _OWN_KV.append(server)
    django_settings.CODEQ_KV_URL = server.url
    django_settings.CACHES = {"default": {**django_settings.CACHES["default"], "LOCATION": server.url}}
    layer = django_settings.CHANNEL_LAYERS["default"]
    django_settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [server.url]}}}


def pytest_unconfigure(config: pytest.Config) -> None:
    for server in _OWN_KV:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    # Settings refuse to run without SECRET_KEY outside DEBUG (the messages middleware signs with it); the
    # suites need not be given one. Set for the whole session: pytest-django cannot restore an empty value.
    # Requests served in-process leave their executor thread's connection open otherwise, and the test
    # database could not be dropped at the end.
    django_settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    try:
        django_settings.SECRET_KEY  # noqa: B018 (reading it is the check)
    except ImproperlyConfigured:
        django_settings.SECRET_KEY = "test-only-django-secret-key"
    if not os.environ.get("CODEQ_KV_URL"):
        _use_own_embedded_kv()


@pytest.fixture(autouse=True)
def _control_plane_settings(settings) -> Iterator[None]:
    """A fixed signing key and a fresh cache key prefix per test; the prefix's keys are deleted after."""
    settings.CODEQ_JWT_SECRET = JWT_SECRET
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"codeq-test:{uuid.uuid4().hex[:12]}"}}
    forget_cached_grants()
    yield
    cache.delete_pattern("*")
    forget_cached_grants()


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme")


@pytest.fixture
def foreign_tenant(db):
    return TenantFactory(slug="globex")


def _bearer(tenant, role: str) -> str:
    return bearer.mint(ApiTokenFactory(tenant=tenant, role=role))


@pytest.fixture
def producer_bearer(tenant) -> str:
    return _bearer(tenant, "producer")


@pytest.fixture
def worker_bearer(tenant) -> str:
    return _bearer(tenant, "worker")


@pytest.fixture
def admin_bearer(tenant) -> str:
    return _bearer(tenant, "admin")


@pytest.fixture
def foreign_bearer(foreign_tenant) -> str:
    return _bearer(foreign_tenant, "admin")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def fresh_kv_prefix(settings) -> Iterator[str]:
    """Each test's queue keys and channel-layer messages live under their own prefix, deleted afterwards
    (the suites that talk to the store through Django's settings make it autouse)."""
    prefix = f"cqt{uuid.uuid4().hex[:12]}"
    settings.CODEQ_KV_PREFIX = prefix
    layer = django_settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "prefix": f"{prefix}:ws"}}}
    store_url = django_settings.CODEQ_KV_URL  # a test may point the settings at a store that is down
    kv.reset()
    yield prefix
    kv.reset()
    client = connect_store(store_url)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()
