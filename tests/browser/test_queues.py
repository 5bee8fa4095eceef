"""The operator console's queues in Debian's Chromium: a command's tasks by state with buttons that move real
tasks, a task page that acts, and pages that follow the queue live without a reload.

Tasks are made and worked through the API the way production does, so the whole path runs: page, POST with
CSRF, engine, worker. Screenshots (1440 and 390 px, light and dark) go to ``var/screenshots/``.
"""

from __future__ import annotations

import codeq
import pytest

from tests.browser.conftest import member
from tests.browser.platform import CHROMIUM, SCREENSHOTS, browser_page, log_in
from tests.browser.test_operator_pages import kill

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


def shots(page, name: str) -> None:
    """Full-page screenshots at 1440 and 390 px, in the light and the dark scheme."""
    size = page.viewport_size
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=SCREENSHOTS / f"{name}-{width}-{scheme}.png", full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(size)


def test_an_operator_opens_a_queue_from_the_overview_and_releases_a_lease(
    server, operator, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    with codeq.Client(server, producer_bearer) as producing, codeq.Client(server, worker_bearer) as working:
        task = producing.create("img.resize", {"src": "cat.jpg"}, max_attempts=3)
        producing.create("img.resize", {"src": "dog.jpg"}, delay_seconds=3600)
        held = working.claim(["img.resize"], lease_seconds=600)
    assert held.id == task.id

    with browser_page(server) as page:
        log_in(page, operator)
        page.get_by_role("link", name="img.resize").first.click()
        expect(page.get_by_role("heading", name="Queue img.resize")).to_be_visible()
        page.get_by_role("link", name="In flight").click()
        row = page.locator(f'tr[data-task-id="{task.id}"]')
        expect(row).to_contain_text("1/3")
        shots(page, "queue-in-flight")

        row.get_by_role("button", name="Release").click()
        expect(page.locator(".message")).to_have_text("1 task released back to the ready queue.")
        expect(page.locator(f'tr[data-task-id="{task.id}"]')).to_have_count(0)
        page.get_by_role("link", name="Delayed").click()
        expect(page.locator("tbody tr")).to_contain_text("scheduled")
        shots(page, "queue-delayed")

    with codeq.Client(server, worker_bearer) as working:
        again = working.claim(["img.resize"])
    assert (again.id, again.attempts) == (task.id, 1)  # the released attempt was refunded


def test_cancelling_every_ready_task_confirms_the_exact_count(server, operator, producer_bearer):
    from playwright.sync_api import expect

    with codeq.Client(server, producer_bearer) as producing:
        ids = [producing.create("report.build", {"n": n}, priority=n % 3).id for n in range(4)]

    with browser_page(server) as page:
        log_in(page, operator)
        page.goto("/dashboard/t/acme/queues/report.build/?state=ready")
        expect(page.locator("tbody tr")).to_have_count(4)
        expect(page.get_by_role("button", name="Delete selected…")).to_have_count(0)
        page.get_by_role("button", name="Cancel all…").click()
        expect(page.get_by_test_id("confirm-count")).to_have_text("4")
        shots(page, "queue-confirm")
        page.get_by_role("button", name="Cancel 4").click()
        expect(page.locator(".message")).to_have_text("4 tasks cancelled.")
        expect(page.get_by_text("No ready tasks of report.build right now.")).to_be_visible()
        page.get_by_role("link", name="Completed & failed").click()
        expect(page.locator("tbody tr")).to_have_count(4)
        expect(page.locator("tbody")).to_contain_text("CANCELLED")

    with codeq.Client(server, producer_bearer) as producing:
        assert {producing.get(i).status for i in ids} == {"FAILED"}


def test_a_viewer_sees_the_queue_but_no_button(server, tenant, producer_bearer):
    from playwright.sync_api import expect

    viewer = member(tenant, "vic", "viewer")
    with codeq.Client(server, producer_bearer) as producing:
        task = producing.create("mail.send", {"to": "a@example.com"})

    with browser_page(server) as page:
        log_in(page, viewer)
        page.goto("/dashboard/t/acme/queues/mail.send/")
        expect(page.locator(f'tr[data-task-id="{task.id}"]')).to_be_visible()
        expect(page.get_by_role("button")).to_have_count(2)  # the search's Find and Log out only
        expect(page.get_by_text("can look at these tasks")).to_be_visible()
        page.goto(f"/dashboard/t/acme/tasks/{task.id}/")
        expect(page.get_by_role("group", name="Actions on this task")).to_have_count(0)


def test_the_task_page_retries_a_backing_off_task_and_follows_its_status_live(
    server, operator, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    with codeq.Client(server, producer_bearer) as producing, codeq.Client(server, worker_bearer) as working:
        task = producing.create("pdf.render", {"doc": 7}, max_attempts=5)
        working.claim(["pdf.render"])
        working.nack(task.id, delay_seconds=900, reason="ConnectionError: renderer unreachable")

    with browser_page(server) as page:
        log_in(page, operator)
        page.goto(f"/dashboard/t/acme/tasks/{task.id}/")
        attempts = page.locator("table.attempts")
        expect(attempts).to_contain_text("ConnectionError: renderer unreachable")
        expect(attempts).to_contain_text("failed, to be retried")
        expect(page.get_by_text("Next attempt", exact=True)).to_be_visible()
        expect(page.locator("[data-expires-ms]")).to_contain_text("14 m")
        shots(page, "task-backing-off")

        page.get_by_role("button", name="Retry now").click()
        expect(page.locator(".message")).to_have_text("1 task made ready now.")
        expect(page.locator("[data-live-state]")).to_have_text("ready")

        with codeq.Client(server, worker_bearer) as working:
            working.claim(["pdf.render"])
        expect(page.locator("[data-live-status]")).to_have_text("IN_PROGRESS")  # no reload
        expect(page.locator("[data-live-attempts]")).to_have_text("2 of 5")
        expect(page.locator("[data-live-changed]")).to_be_visible()
        expect(page.get_by_role("group", name="Actions on this task")).to_be_hidden()  # they were for "ready"
        shots(page, "task-live")


def test_the_leases_list_updates_in_place_and_keeps_focus_and_selection(server, operator, producer_bearer,
                                                                         worker_bearer):  # fmt: skip
    from playwright.sync_api import expect

    with codeq.Client(server, producer_bearer) as producing, codeq.Client(server, worker_bearer) as working:
        for n in range(3):
            producing.create("video.encode", {"n": n})
        first = working.claim(["video.encode"], lease_seconds=300)

    with browser_page(server) as page:
        log_in(page, operator)
        page.get_by_role("link", name="Leases").click()
        link = page.get_by_role("link", name=first.id)
        link.focus()
        page.evaluate(
            """id => { const cell = document.querySelector(`tr[data-task-id="${id}"] [data-cell="worker"]`);
                      getSelection().selectAllChildren(cell); }""",
            first.id,
        )

        with codeq.Client(server, worker_bearer) as working:
            second = working.claim(["video.encode"], lease_seconds=900)
        expect(page.locator(f'tr[data-task-id="{second.id}"]')).to_be_visible()  # no reload
        with codeq.Client(server, worker_bearer) as working:
            working.complete(second.id, {"ok": True})
        expect(page.locator(f'tr[data-task-id="{second.id}"]')).to_have_count(0)

        assert page.evaluate("document.activeElement.textContent") == first.id
        assert page.evaluate("getSelection().toString()") == first.worker_id
        shots(page, "leases-live")


def test_dlq_counts_follow_without_a_reload(server, operator, producer_bearer, worker_bearer):
    from playwright.sync_api import expect

    kill(server, producer_bearer, worker_bearer, "hook.call", "HTTP 500")

    with browser_page(server) as page:
        log_in(page, operator)
        page.get_by_role("link", name="DLQ").click()
        count = page.locator('[data-live-count="hook.call|dlq"]')
        expect(count).to_have_text("1")

        kill(server, producer_bearer, worker_bearer, "hook.call", "HTTP 502")

        expect(count).to_have_text("2")
        expect(page.locator("[data-live-sum]")).to_have_text("2 dead tasks")
        page.get_by_role("link", name="hook.call").click()
        expect(page.get_by_test_id("dlq-total")).to_have_text("2 in the DLQ")
        kill(server, producer_bearer, worker_bearer, "hook.call", "HTTP 503")
        expect(page.get_by_test_id("dlq-total")).to_have_text("3 in the DLQ")
        shots(page, "dlq-live")


def test_an_admin_deletes_a_finished_task_from_its_page_after_confirming(server, admin, producer_bearer,
                                                                         worker_bearer):  # fmt: skip
    from playwright.sync_api import expect

    with codeq.Client(server, producer_bearer) as producing, codeq.Client(server, worker_bearer) as working:
        task = producing.create("sms.send", {"to": "+100"})
        working.claim(["sms.send"])
        working.complete(task.id, {"sid": "SM1"})

    with browser_page(server) as page:
        log_in(page, admin)
        page.goto("/dashboard/t/acme/queues/sms.send/?state=finished")
        page.get_by_role("link", name=task.id[:12]).click()
        expect(page.get_by_role("group", name="Actions on this task").get_by_role("button")).to_have_text(["Delete…"])
        page.get_by_role("button", name="Delete…").click()
        expect(page.get_by_test_id("confirm-count")).to_have_text("1")
        page.get_by_role("button", name="Delete 1").click()
        expect(page.locator(".message")).to_have_text("1 task deleted for good.")
        expect(page.get_by_role("heading", name="Queue sms.send")).to_be_visible()

    with codeq.Client(server, producer_bearer) as producing, pytest.raises(codeq.NotFound):
        producing.get(task.id)
