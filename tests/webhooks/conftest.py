"""Fixtures of the webhook suites: the API suites' clean key prefix per test and in-process HTTP client,
a real receiver on 127.0.0.1, and a running dispatcher (allowed to reach it), each stopped after the test."""

import pytest

from codeq_platform.webhooks.dispatcher import Dispatcher
from tests.api.conftest import _fresh_kv_prefix, http  # noqa: F401 (fixtures, registered by import)
from tests.webhooks.receivers import Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def dispatcher():
    running = Dispatcher(concurrency=10, timeout=2.0, allow_private=True, grace=1)
    running.start()
    yield running
    running.stop()
