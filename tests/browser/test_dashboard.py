"""The dashboard in Debian's Chromium (Playwright, headless) against the real ASGI app and the real scheduler.

A uvicorn and a ``manage.py codeq_scheduler`` run as subprocesses on the test database and the real store
(under a key prefix of their own), so the overview's live updates travel the production path: API enqueue,
engine, stats job, channel layer, websocket, page. Screenshots of each page go to ``var/screenshots/``.
Rows are created before the browser starts: Playwright's sync API runs an event loop in this thread, where
Django refuses database calls.
"""

from __future__ import annotations

import codeq
import pytest

from tests.browser.platform import CHROMIUM, SCREENSHOTS, browser_page, log_in

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


def test_the_overview_updates_live_after_an_enqueue(server, operator, producer_bearer, worker_bearer):
    from playwright.sync_api import expect

    with browser_page(server) as page:
        log_in(page, operator)
        expect(page.locator("[data-live-state]")).to_have_text("Live")
        page.evaluate("window.loadedOnce = true")
        expect(page.get_by_text("No tasks yet")).to_be_visible()
        updated = page.locator("[data-updated]")
        expect(updated).not_to_have_text(updated.inner_text())  # the stats job has looked at the tenant

        with codeq.Client(server, producer_bearer) as producer:
            for priority in (5, 5, 9):
                producer.create("media.resize", {"w": 640}, priority=priority)

        row = page.locator('tr[data-command="media.resize"]')
        expect(row.locator("td").nth(0)).to_have_text("3")
        expect(row.locator(".chip")).to_have_text(["p9 1", "p5 2"])
        expect(page.locator('[data-total="ready"]')).to_have_text("3")
        assert page.evaluate("window.loadedOnce") is True  # updated in place, never reloaded

        with codeq.Client(server, producer_bearer) as producer, codeq.Client(server, worker_bearer) as worker:
            doomed = producer.create("report.build", {}, max_attempts=1)
            worker.claim(["report.build"])
            worker.nack(doomed.id, reason="out of paper")
        dead = page.locator('tr[data-command="report.build"] a.badge-bad')
        expect(dead).to_have_text("1")
        expect(dead).to_have_attribute("href", "/dashboard/t/acme/dlq/report.build/")
        expect(page.locator('[data-total="failed"]')).to_have_text("1")
        page.screenshot(path=SCREENSHOTS / "overview.png", full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})  # a phone: the table scrolls, the page does not
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=SCREENSHOTS / "overview-phone.png", full_page=True)


def test_leases_count_down_and_the_task_page_opens_from_the_search_box(
    server, operator, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    # A command of its own: the module's store keeps the tasks of the test before.
    with codeq.Client(server, producer_bearer) as producer, codeq.Client(server, worker_bearer) as worker:
        task_id = producer.create("mail.send", {"src": "cat.jpg"}).id
        assert worker.claim(["mail.send"], lease_seconds=120).id == task_id

    with browser_page(server) as page:
        log_in(page, operator)
        page.get_by_role("link", name="Leases").click()
        row = page.locator("tbody tr").first
        expect(row).to_contain_text(task_id)
        expect(row).to_contain_text("mail.send")
        countdown = row.locator("[data-expires-ms]")
        first = countdown.inner_text()
        expect(countdown).not_to_have_text(first, timeout=30_000)
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
        expect(page.get_by_test_id("search-empty")).to_have_text("No task matches.")
        page.screenshot(path=SCREENSHOTS / "task-not-found.png", full_page=True)


def test_a_lost_connection_shows_reconnecting_and_recovers_by_itself(platform, operator):
    from playwright.sync_api import expect

    with browser_page(platform.base) as page:
        log_in(page, operator)
        state = page.locator("[data-live-state]")
        expect(state).to_have_text("Live")

        platform.stop_web()
        expect(state).to_have_text("Reconnecting…")
        page.screenshot(path=SCREENSHOTS / "overview-reconnecting.png")
        platform.start_web()

        expect(state).to_have_text("Live", timeout=60_000)
        expect(page.locator("[data-updated]")).not_to_have_text(page.locator("[data-updated]").inner_text())
