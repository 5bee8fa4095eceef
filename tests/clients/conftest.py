"""Fixtures of the client suites: the platform as real processes (uvicorn and the scheduler, the browser
suites' ``platform``), a ``codeq.Client`` per role, and a command of each test's own (the platform's key
prefix lives for the module, so tests keep apart by command)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import codeq
import pytest

from tests.browser.conftest import mail_dir, platform, platform_settings  # noqa: F401 (fixtures, registered by import)

CLIENT_DB = pytest.mark.django_db(
    transaction=True,
    available_apps=["django.contrib.contenttypes", "django.contrib.auth", "tenants", "codeq_platform.webhooks"],
)


@pytest.fixture
def url(platform) -> str:  # noqa: F811 (the imported fixture)
    return platform.base


def _client(url: str, token: str) -> Iterator[codeq.Client]:
    with codeq.Client(url, token) as client:
        yield client


@pytest.fixture
def producer(url, producer_bearer) -> Iterator[codeq.Client]:
    yield from _client(url, producer_bearer)


@pytest.fixture
def worker(url, worker_bearer) -> Iterator[codeq.Client]:
    yield from _client(url, worker_bearer)


@pytest.fixture
def admin(url, admin_bearer) -> Iterator[codeq.Client]:
    yield from _client(url, admin_bearer)


@pytest.fixture
def command() -> str:
    return f"cl-{uuid.uuid4().hex[:10]}"
