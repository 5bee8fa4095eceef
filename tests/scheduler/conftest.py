"""Fixtures of the scheduler suites."""

import pytest

from tests.api.conftest import http  # noqa: F401 (a fixture, registered by import)


@pytest.fixture(autouse=True)
def _fresh_kv_prefix(fresh_kv_prefix: str) -> str:
    return fresh_kv_prefix
