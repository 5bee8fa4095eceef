"""Triage in Debian's Chromium: search across states, the DLQ's top errors and an admin's edit before
replay, the schedules page (create, pause, run now) and the live worker subscriptions.

Tasks are made and claimed through the API with the Python client, so each path runs end to end. Every
page is shot at 1440 and 390 px, light and dark (``var/screenshots/triage-*``).
"""

from __future__ import annotations

import re

import codeq
import httpx
import pytest

from tests.browser.conftest import member
from tests.browser.platform import CHROMIUM, SCREENSHOTS, browser_page, log_in

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


def shoot(page, name: str) -> None:
    """Full-page screenshots at a desktop and a phone width, in the light and the dark scheme."""
    size = page.viewport_size
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=SCREENSHOTS / f"triage-{name}-{width}-{scheme}.png", full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(size)


def kill(server: str, producer: str, worker: str, command: str, error: str, **options) -> str:
    """One dead task of ``command`` whose last error is ``error``; returns its id."""
    with codeq.Client(server, producer) as producing, codeq.Client(server, worker) as working:
        created = producing.create(command, {"src": "cat.jpg"}, max_attempts=1, **options)
        claimed = working.claim([command])
        assert working.nack(claimed.id, reason=error).dead
    return created.id


def test_search_finds_tasks_by_error_text_and_idempotency_key_across_states(
    server, operator, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    dead = kill(server, producer_bearer, worker_bearer, "img.thumb", "TimeoutError: s3 did not answer")
    with codeq.Client(server, producer_bearer) as producing:
        ready = producing.create("mail.send", {"to": "a@example.com"}, idempotency_key="welcome-42", tags=["vip"])

    with browser_page(server) as page:
        log_in(page, operator)
        page.get_by_role("link", name="Task search").click()
        page.get_by_label("Error contains").fill("timeout")
        page.get_by_role("button", name="Search").click()
        results = page.get_by_test_id("search-results")
        expect(results.locator(f'tr[data-task-id="{dead}"]')).to_contain_text("dead")
        expect(results.locator("tbody tr")).to_have_count(1)
        expect(page.locator("nav.pager")).to_contain_text("every task searched")
        shoot(page, "search")

        page.get_by_role("link", name="Clear").click()
        page.get_by_label("Idempotency key").fill("welcome-42")
        page.get_by_role("button", name="Search").click()
        expect(page.locator(f'tr[data-task-id="{ready.id}"]')).to_contain_text("vip")
        page.locator(f'tr[data-task-id="{ready.id}"] a').first.click()
        expect(page.locator("h1")).to_contain_text(ready.id[:8])


def test_an_admin_filters_the_dlq_by_its_top_error_then_fixes_a_payload_and_replays(
    server, tenant, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    admin = member(tenant, "ada", "admin")
    timeouts = [kill(server, producer_bearer, worker_bearer, "img.thumb", "TimeoutError: s3") for _ in range(2)]
    broken = kill(server, producer_bearer, worker_bearer, "img.thumb", "KeyError: 'width'")

    with browser_page(server) as page:
        log_in(page, admin)
        page.goto("/dashboard/t/acme/dlq/img.thumb/")
        groups = page.get_by_test_id("error-groups")
        expect(groups.locator("li").first).to_contain_text("TimeoutError: s3")
        expect(groups.locator("li").first.get_by_test_id("group-count")).to_have_text("2")
        shoot(page, "dlq-groups")
        groups.get_by_role("link", name="KeyError: 'width'").click()
        expect(page.locator("tbody tr")).to_have_count(1)
        expect(page.locator(f'tr[data-task-id="{broken}"]')).to_be_visible()

        page.locator(f'tr[data-task-id="{broken}"]').get_by_role("link", name="Edit & replay").click()
        editor = page.get_by_label("Payload")
        editor.fill('{"src": "cat.jpg", "width": ')
        page.get_by_role("button", name="Replay with this payload").click()
        expect(page.get_by_role("alert")).to_contain_text("The payload is not valid JSON")
        shoot(page, "dlq-edit")
        editor.fill('{"src": "cat.jpg", "width": 320}')
        page.get_by_role("button", name="Replay with this payload").click()
        expect(page.locator(".message-success")).to_contain_text(f"Replayed task {broken} with the edited payload")
        expect(page.locator(f'tr[data-task-id="{broken}"]')).to_have_count(0)

    with codeq.Client(server, worker_bearer) as working:
        claimed = working.claim(["img.thumb"])
    assert (claimed.id, claimed.payload) == (broken, {"src": "cat.jpg", "width": 320})
    assert len(timeouts) == 2


def test_schedules_are_created_paused_and_run_now_once_and_viewers_only_look(server, tenant, operator, worker_bearer):
    from playwright.sync_api import expect

    admin = member(tenant, "ada", "admin")
    viewer = member(tenant, "vic", "viewer")
    with browser_page(server) as page:
        log_in(page, admin)
        page.get_by_role("link", name="Schedules").click()
        page.get_by_text("New schedule").click()
        page.get_by_label("Name").fill("nightly-report")
        page.get_by_label("Cron").fill("every night")
        page.get_by_label("Command").fill("reports.build")
        page.get_by_label("Payload").fill('{"kind": "daily"}')
        page.get_by_role("button", name="Create schedule").click()
        expect(page.locator("#id_cron-errors")).to_contain_text("5 fields")
        shoot(page, "schedules-new")
        page.get_by_label("Cron").fill("0 3 * * *")
        page.get_by_role("button", name="Create schedule").click()
        expect(page.locator(".message-success")).to_contain_text("Created schedule nightly-report")
        page.get_by_role("link", name="nightly-report").click()
        expect(page.get_by_role("button", name="Save schedule")).to_be_visible()
        shoot(page, "schedule-admin")

    with browser_page(server) as page:
        log_in(page, operator)
        page.get_by_role("link", name="Schedules").click()
        row = page.locator('tr[data-schedule="nightly-report"]')
        expect(row.get_by_test_id("next-run")).to_have_text(re.compile(r"^in \d+ [hm] \d+ [ms]$"))
        expect(row.get_by_test_id("last-run")).to_have_text("never")
        row.get_by_role("button", name="Run now").dblclick()  # a double click sends the form twice: one task
        message = page.locator(".messages li").first
        expect(message).to_contain_text("nightly-report" if "ran now" in message.inner_text() else "Already ran")
        task_id = re.search(r"task (\S+)\.", message.inner_text()).group(1)
        expect(row.get_by_test_id("last-run")).to_contain_text(task_id[:6])
        row.get_by_role("button", name="Pause").click()
        expect(row).to_contain_text("paused")
        shoot(page, "schedules")
        row.get_by_role("link", name="nightly-report").click()
        expect(page.get_by_test_id("upcoming")).to_contain_text("none while paused")
        shoot(page, "schedule")

    with codeq.Client(server, worker_bearer) as working:
        assert working.claim(["reports.build"]).id == task_id
        assert working.claim(["reports.build"]) is None

    with browser_page(server) as page:
        log_in(page, viewer)
        page.get_by_role("link", name="Schedules").click()
        expect(page.locator('tr[data-schedule="nightly-report"]')).to_be_visible()
        expect(page.get_by_role("button", name="Run now")).to_have_count(0)
        expect(page.get_by_role("link", name="Worker subscriptions")).to_have_count(0)


def test_live_worker_subscriptions_count_down_their_ttl(server, operator, worker_bearer):
    from playwright.sync_api import expect

    r = httpx.post(f"{server}/v1/codeq/workers/subscriptions", headers={"Authorization": f"Bearer {worker_bearer}"},
                   json={"callbackUrl": "https://workers.example.com/wake", "eventTypes": ["img.thumb"],
                         "ttlSeconds": 90, "deliveryMode": "group", "groupId": "thumbs"})  # fmt: skip
    assert r.status_code == 200, r.text
    subscription = r.json()["subscriptionId"]

    with browser_page(server) as page:
        log_in(page, operator)
        page.get_by_role("link", name="Worker subscriptions").click()
        row = page.locator(f'tr[data-subscription-id="{subscription}"]')
        expect(row).to_contain_text("https://workers.example.com/wake")
        expect(row).to_contain_text("thumbs")
        left = row.locator("[data-expires-ms]")
        first = left.inner_text()
        expect(left).not_to_have_text(first)  # the countdown ticks in the page
        shoot(page, "subscriptions")
