"""Fixtures of the API suites: an async HTTP client over the ASGI app and a clean engine per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture(autouse=True)
def _fresh_kv_prefix(fresh_kv_prefix: str) -> str:
    return fresh_kv_prefix


@pytest.fixture
async def http(transactional_db) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client speaking to the ASGI application in-process."""
    from codeq_platform.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
