"""Fixtures of the API suites: an async HTTP client over the ASGI app and a clean engine per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis
from django.conf import settings as django_settings

from codeq_platform import kv


@pytest.fixture(autouse=True)
def _fresh_kv_prefix(settings) -> Iterator[str]:
    """Each test's queue keys live under their own prefix, deleted afterwards."""
    prefix = f"cqapi{uuid.uuid4().hex[:10]}"
    settings.CODEQ_KV_PREFIX = prefix
    kv.reset()
    yield prefix
    kv.reset()
    client = redis.Redis.from_url(django_settings.CODEQ_KV_URL)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
async def http(transactional_db) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client speaking to the ASGI application in-process."""
    from codeq_platform.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
