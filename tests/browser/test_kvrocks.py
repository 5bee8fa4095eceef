"""The browser smoke test with the platform on a KVRocks started with its stock configuration: an operator
logs in and the overview shows a task created after the page opened, live (stats job, channel layer and
websocket all on KVRocks)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import codeq
import pytest
from django.db import connection

from tests.browser.platform import CHROMIUM, Platform, browser_page, log_in
from tests.conftest import JWT_SECRET
from tests.engine._redis_servers import KvrocksProcess, kvrocks_binary
from tests.processes import child_database_url

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def kvrocks_platform(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Platform]:
    kvrocks_binary()
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    store = KvrocksProcess(tmp_path_factory.mktemp("kvrocks-browser"))
    running = None
    try:
        store.start()
        prefix = f"cqbrowser{uuid.uuid4().hex[:10]}"
        env = {**os.environ, "DATABASE_URL": child_database_url(name), "CODEQ_KV_PREFIX": prefix,
               "CODEQ_KV_URL": store.url, "CODEQ_JWT_SECRET": JWT_SECRET,
               "SECRET_KEY": "test-only-django-secret-key", "CODEQ_CACHE_PREFIX": f"{prefix}:cache"}  # fmt: skip
        running = Platform(env)
        running.start_web()
        yield running
    finally:
        if running is not None:
            running.stop()
        store.kill()


def test_an_operator_sees_a_live_update_with_the_platform_on_kvrocks(kvrocks_platform, operator, producer_bearer):
    from playwright.sync_api import expect

    server = kvrocks_platform.base
    with browser_page(server) as page:
        log_in(page, operator)
        expect(page.locator("[data-live-state]")).to_have_text("Live")
        page.evaluate("window.loadedOnce = true")

        with codeq.Client(server, producer_bearer) as producer:
            producer.create("kv.check", {}, priority=7)

        row = page.locator('tr[data-command="kv.check"]')
        expect(row.locator("td").nth(0)).to_have_text("1")
        expect(row.locator(".chip")).to_have_text(["p7 1"])
        assert page.evaluate("window.loadedOnce") is True  # updated in place, never reloaded
