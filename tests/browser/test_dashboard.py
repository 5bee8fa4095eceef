"""The dashboard in Debian's Chromium (Playwright, headless) against the real ASGI app and the real scheduler.

A uvicorn and a ``manage.py codeq_scheduler`` run as subprocesses on the test database and the real store
(under a key prefix of their own), so the overview's live updates travel the production path: API enqueue,
engine, stats job, channel layer, websocket, page. Screenshots of each page go to ``var/screenshots/``.
Rows are created before the browser starts: Playwright's sync API runs an event loop in this thread, where
Django refuses database calls.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.conftest import JWT_SECRET
from tests.factories import MembershipFactory, UserFactory

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "browser-test-password"

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url(name: str) -> str:
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class Platform:
    """The web process (stopped and started again by the reconnect test) and the scheduler beside it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.web: subprocess.Popen | None = None
        self.scheduler = subprocess.Popen([sys.executable, "manage.py", "codeq_scheduler"], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL)  # fmt: skip

    def start_web(self) -> None:
        self.web = subprocess.Popen([sys.executable, "-m", "uvicorn", "codeq_platform.asgi:application",
                                     "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                                    cwd=ROOT, env=self.env)  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            assert self.web.poll() is None and self.scheduler.poll() is None, "a server process exited"
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

    def stop_web(self) -> None:
        _stop(self.web)

    def stop(self) -> None:
        _stop(self.web)
        _stop(self.scheduler)


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def platform(django_db_setup, django_db_blocker) -> Iterator[Platform]:
    """The app served by uvicorn on the test database, with the scheduler running beside it."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    prefix = f"cqbrowser{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "DATABASE_URL": _database_url(name), "CODEQ_KV_PREFIX": prefix,
           "CODEQ_KV_URL": settings.CODEQ_KV_URL, "CODEQ_JWT_SECRET": JWT_SECRET,
           "SECRET_KEY": "test-only-django-secret-key", "CODEQ_CACHE_PREFIX": f"{prefix}:cache"}  # fmt: skip
    running = Platform(env)
    try:
        running.start_web()
        yield running
    finally:
        running.stop()
        store = redis.Redis.from_url(settings.CODEQ_KV_URL)
        for key in store.scan_iter(match=f"{prefix}:*", count=1000):
            store.delete(key)
        store.close()


@pytest.fixture
def server(platform) -> str:
    return platform.base


@pytest.fixture
def operator(tenant) -> str:
    """The username of an operator of ``acme`` whose password is ``PASSWORD``."""
    user = UserFactory(username="olivia")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(tenant=tenant, user=user, role="operator")
    return user.username


@contextmanager
def browser_page(base: str):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(base_url=base, viewport={"width": 1280, "height": 800})
        page.set_default_timeout(10_000)
        try:
            yield page
        finally:
            browser.close()


def _log_in(page, username: str) -> None:
    page.goto("/dashboard/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.screenshot(path=SCREENSHOTS / "login.png")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/t/acme/")


def _api(base: str, token: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base}/v1/codeq{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_the_overview_updates_live_after_an_enqueue(server, operator, producer_bearer):
    from playwright.sync_api import expect

    with browser_page(server) as page:
        _log_in(page, operator)
        expect(page.locator("[data-live-state]")).to_have_text("Live")
        page.evaluate("window.loadedOnce = true")
        expect(page.get_by_text("No tasks yet")).to_be_visible()

        for priority in (5, 5, 9):
            created = _api(server, producer_bearer, "/tasks", {"command": "media.resize", "payload": {"w": 640},
                                                               "priority": priority})  # fmt: skip
            assert created.status_code == 202, created.text

        row = page.locator('tr[data-command="media.resize"]')
        expect(row.locator("td").nth(0)).to_have_text("3")
        expect(row.locator(".chip")).to_have_text(["p9 1", "p5 2"])
        expect(page.locator('[data-total="ready"]')).to_have_text("3")
        assert page.evaluate("window.loadedOnce") is True  # updated in place, never reloaded
        page.screenshot(path=SCREENSHOTS / "overview.png", full_page=True)


def test_leases_count_down_and_the_task_page_opens_from_the_search_box(
    server, operator, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    # A command of its own: the module's store keeps the tasks of the test before.
    created = _api(server, producer_bearer, "/tasks", {"command": "mail.send", "payload": {"src": "cat.jpg"}})
    claimed = _api(server, worker_bearer, "/tasks/claim", {"commands": ["mail.send"], "leaseSeconds": 120})
    assert claimed.status_code == 200, claimed.text
    task_id = created.json()["id"]

    with browser_page(server) as page:
        _log_in(page, operator)
        page.get_by_role("link", name="Leases").click()
        row = page.locator("tbody tr").first
        expect(row).to_contain_text(task_id)
        expect(row).to_contain_text("mail.send")
        countdown = row.locator("[data-expires-ms]")
        first = countdown.inner_text()
        expect(countdown).not_to_have_text(first, timeout=3000)
        assert first.startswith(("1 m", "2 m")), first
        page.screenshot(path=SCREENSHOTS / "leases.png", full_page=True)

        page.get_by_label("Task id").fill(task_id)
        page.get_by_label("Task id").press("Enter")
        expect(page.get_by_role("heading", name=f"Task {task_id}")).to_be_visible()
        expect(page.locator(".page-head")).to_contain_text("IN_PROGRESS")
        expect(page.locator("pre.json").first).to_contain_text('"src": "cat.jpg"')
        expect(page.get_by_text("claimed", exact=True)).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "task.png", full_page=True)

        page.get_by_label("Task id").fill("no-such-task")
        page.get_by_label("Task id").press("Enter")
        expect(page.get_by_role("heading", name="Task not found")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "task-not-found.png", full_page=True)


def test_a_lost_connection_shows_reconnecting_and_recovers_by_itself(platform, operator):
    from playwright.sync_api import expect

    with browser_page(platform.base) as page:
        _log_in(page, operator)
        state = page.locator("[data-live-state]")
        expect(state).to_have_text("Live")

        platform.stop_web()
        expect(state).to_have_text("Reconnecting…")
        page.screenshot(path=SCREENSHOTS / "overview-reconnecting.png")
        platform.start_web()

        expect(state).to_have_text("Live", timeout=15_000)
        expect(page.locator("[data-updated]")).not_to_have_text(page.locator("[data-updated]").inner_text())
