"""The API calls the suites repeat (create, claim, report), each asserting its own success, and tenant limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from codeq_platform.api.auth import forget_cached_grants
from tenants import bearer as bearer_module
from tenants.models import Tenant
from tests.api.conftest import bearer
from tests.factories import ApiTokenFactory

BASE = "/v1/codeq"

# The in-process app reads tokens on its own thread, so the suites need committed rows (transactional_db).
# Naming the apps they use lets pytest-django truncate only those tables and skip re-running post_migrate
# after each test: ~0.1 s a test instead of ~0.5 s.
# The static-file apps stay available: the ASGI app (and WhiteNoise's file list) may be built during
# one of these tests, and the Swagger UI assets must be found then too.
API_DB = pytest.mark.django_db(
    transaction=True,
    available_apps=[
        "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.staticfiles", "rest_framework",
        "drf_spectacular", "drf_spectacular_sidecar", "tenants",
    ],
)  # fmt: skip


async def create(http: httpx.AsyncClient, token: str, command: str = "resize", payload: Any = None, **fields) -> dict:
    body = {"command": command, "payload": {"n": 1} if payload is None else payload, **fields}
    r = await http.post(f"{BASE}/tasks", json=body, headers=bearer(token))
    assert r.status_code == 202, r.text
    return r.json()


async def claim(http: httpx.AsyncClient, token: str, *commands: str, **fields) -> dict:
    body = {"commands": list(commands or ["resize"]), **fields}
    r = await http.post(f"{BASE}/tasks/claim", json=body, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


async def claimed(http: httpx.AsyncClient, producer: str, worker: str, command: str = "resize", **fields) -> dict:
    """A task created by ``producer`` and held by ``worker``."""
    task = await create(http, producer, command, **fields)
    held = await claim(http, worker, command)
    assert held["id"] == task["id"]
    return held


async def post(http: httpx.AsyncClient, path: str, token: str | None, body: Any = None, **kwargs) -> httpx.Response:
    headers = bearer(token) if token else {}
    if body is None:
        return await http.post(f"{BASE}{path}", headers=headers, **kwargs)
    return await http.post(f"{BASE}{path}", json=body, headers=headers, **kwargs)


async def get(http: httpx.AsyncClient, path: str, token: str | None, **kwargs) -> httpx.Response:
    return await http.get(f"{BASE}{path}", headers=bearer(token) if token else {}, **kwargs)


def _set_limits(tenant: Tenant, fields: dict[str, int]) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(**fields)
    cache.delete_pattern("*")  # the test's own cache prefix: the grants cached there
    forget_cached_grants()


async def set_limits(tenant: Tenant, **fields: int) -> None:
    """Change the tenant's limits and drop every cached grant, so the next request sees them."""
    await sync_to_async(_set_limits)(tenant, fields)


def mint(tenant: Tenant, role: str) -> str:
    """A bearer of a new token of ``role`` in ``tenant`` (another worker identity, say)."""
    return bearer_module.mint(ApiTokenFactory(tenant=tenant, role=role))
