"""Fixtures of the scheduler suites."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_kv_prefix(fresh_kv_prefix: str) -> str:
    return fresh_kv_prefix
