"""The console's defects found in the walk, each shown fixed in Chromium: a live table that keeps focus and
selection, new secrets that a reload does not create twice, a stream that ends with the session, a menu
that shows each role what it can use and fits a phone, whole ids and honest messages, counts that agree.

Screenshots of the pages touched, light and dark, at 1440 and 390 px, go to ``var/screenshots/``.
"""

from __future__ import annotations

import codeq
import pytest
from django.conf import settings

from codeq_platform.engine import Engine, EngineConfig, NewTask
from codeq_platform.engine.store import connect as connect_store
from tests.browser.conftest import member
from tests.browser.platform import CHROMIUM, browser_page, browser_pages, log_in, screenshots

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


def both_schemes(page, name: str) -> None:
    """Screenshots of ``page`` at both widths, in the light and the dark scheme."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        screenshots(page, f"{name}-{scheme}")
    page.emulate_media(color_scheme="light")


def kill(server: str, producer: str, worker: str, command: str, error: str) -> str:
    """One dead task of ``command`` whose last error is ``error``; returns its id."""
    with codeq.Client(server, producer) as producing, codeq.Client(server, worker) as working:
        created = producing.create(command, {"src": "cat.jpg"}, max_attempts=1)
        claimed = working.claim([command])
        assert working.nack(claimed.id, reason=error).dead
    return created.id


def test_a_live_update_keeps_keyboard_focus_and_the_text_selection(server, operator, producer_bearer, worker_bearer):
    from playwright.sync_api import expect

    kill(server, producer_bearer, worker_bearer, "focus.cmd", "boom")
    with browser_page(server) as page:
        log_in(page, operator)
        expect(page.locator("[data-live-state]")).to_have_text("Live")
        row = page.locator('tr[data-command="focus.cmd"]')
        link = row.locator("a.badge-bad")
        expect(link).to_have_text("1")
        link.focus()
        page.evaluate("""() => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector('tr[data-command="focus.cmd"] th'));
            getSelection().removeAllRanges();
            getSelection().addRange(range);
        }""")

        with codeq.Client(server, producer_bearer) as producer:
            producer.create("focus.cmd", {"n": 1})
        expect(row.locator("td").nth(0)).to_have_text("1")  # the row was updated by a snapshot

        assert page.evaluate("document.activeElement.matches('tr[data-command=\"focus.cmd\"] a.badge-bad')")
        assert page.evaluate("getSelection().toString()") == "focus.cmd"


def test_the_dead_letters_card_turns_red_while_tasks_are_dead(server, operator, producer_bearer, worker_bearer):
    from playwright.sync_api import expect

    with browser_page(server) as page:
        log_in(page, operator)
        expect(page.locator("[data-live-state]")).to_have_text("Live")
        card = page.locator(".stat", has=page.locator('[data-total="dlq"]'))
        kill(server, producer_bearer, worker_bearer, "red.cmd", "boom")
        expect(page.locator('tr[data-command="red.cmd"] a.badge-bad')).to_have_text("1")  # arrived live
        expect(card).to_have_css("border-top-color", "rgb(194, 55, 47)")  # --bad, light scheme
        expect(card.locator(".stat-value")).to_have_css("color", "rgb(194, 55, 47)")
        both_schemes(page, "defects-overview")
        page.reload()  # and so it is when the page is first drawn
        expect(card).to_have_css("border-top-color", "rgb(194, 55, 47)")


def test_a_reload_after_issuing_a_token_or_subscribing_creates_nothing_more(server, admin):
    from playwright.sync_api import expect

    with browser_page(server) as page:
        log_in(page, admin)
        page.get_by_role("link", name="Tokens").click()
        page.get_by_label("Name").fill("resize-pool")
        page.get_by_role("button", name="Issue token").click()
        expect(page.get_by_test_id("new-bearer").locator("code")).to_be_visible()
        both_schemes(page, "defects-tokens")
        page.reload()
        expect(page.get_by_role("cell", name="resize-pool", exact=True)).to_have_count(1)
        expect(page.get_by_test_id("new-bearer")).to_have_count(0)  # shown once only

        page.get_by_role("link", name="Webhooks").click()
        page.get_by_label("Endpoint URL").fill("https://hooks.example.com/once")
        page.get_by_label("task.dead").check()
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_test_id("new-secret").locator("code")).to_contain_text("whsec_")
        both_schemes(page, "defects-webhooks")
        page.reload()
        expect(page.get_by_role("link", name="https://hooks.example.com/once")).to_have_count(1)
        expect(page.get_by_test_id("new-secret")).to_have_count(0)


def test_logging_out_in_another_tab_ends_the_overviews_stream(server, operator):
    from playwright.sync_api import expect

    with browser_page(server) as page:
        log_in(page, operator)
        state = page.locator("[data-live-state]")
        expect(state).to_have_text("Live")

        other_tab = page.context.new_page()
        other_tab.goto("/dashboard/t/acme/leases/")
        other_tab.get_by_role("button", name="Log out").click()
        expect(other_tab.get_by_label("Username")).to_be_visible()

        # the server closed the socket saying why, and the page does not try to reconnect
        expect(state).to_have_text("Not live: you are signed out. Log in again to follow this tenant.")


def test_each_role_sees_only_the_pages_it_can_use_and_the_menu_fits_a_phone(server, tenant):
    from playwright.sync_api import expect

    users = {role: member(tenant, f"menu-{role}", role) for role in ("viewer", "operator", "admin")}
    admin_pages = ["Webhooks", "Tokens", "Members"]
    with browser_pages(server) as new_page:
        for role, username in users.items():
            page = new_page()
            log_in(page, username)
            nav = page.get_by_role("navigation", name="Sections")
            for name in admin_pages:
                expect(nav.get_by_role("link", name=name, exact=True)).to_have_count(1 if role == "admin" else 0)
            for name in ("Overview", "DLQ", "Task search", "Usage", "Audit"):
                expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()

            page.set_viewport_size({"width": 390, "height": 844})
            nav.get_by_text("Menu").click()  # a phone folds the menu behind one line
            links = nav.get_by_role("link").all()
            for link in links:
                box = link.bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= 390, link.inner_text()
            for href in [link.get_attribute("href") for link in links]:  # no page scrolls sideways on a phone
                page.goto(href)
                assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), href
            page.goto("/dashboard/t/acme/")
            page.set_viewport_size({"width": 1440, "height": 900})
            both_schemes(page, f"defects-nav-{role}")


def test_a_dead_tasks_whole_id_is_copied_from_the_dlq(server, operator, producer_bearer, worker_bearer):
    from playwright.sync_api import expect

    task_id = kill(server, producer_bearer, worker_bearer, "copy.cmd", "ValueError: no frames")
    with browser_page(server) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        log_in(page, operator)
        page.goto("/dashboard/t/acme/dlq/copy.cmd/")
        row = page.locator(f'tr[data-task-id="{task_id}"]')
        expect(row.get_by_role("link", name=task_id[:8])).to_have_attribute("title", task_id)
        row.get_by_role("button", name=f"Copy id {task_id}").click()
        expect(row.get_by_role("button", name=f"Copy id {task_id}")).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == task_id
        both_schemes(page, "defects-dlq")


def test_dlq_rows_fit_a_phone_without_sideways_scrolling(server, operator, producer_bearer, worker_bearer):
    from playwright.sync_api import expect

    kill(server, producer_bearer, worker_bearer, "phone.cmd", "TimeoutError: " + "s3 did not answer " * 8)
    with browser_page(server) as page:
        log_in(page, operator)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/dashboard/t/acme/dlq/phone.cmd/")
        expect(page.locator("tbody tr")).to_have_count(1)
        assert page.locator(".table-wrap").evaluate("(node) => node.scrollWidth <= node.clientWidth")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        box = page.get_by_role("button", name="Replay", exact=True).bounding_box()
        assert box["x"] + box["width"] <= 390  # the row's action is on screen, not scrolled away to the right
        screenshots(page, "defects-dlq-phone")


def test_a_task_not_found_says_what_is_known_not_only_retention(server, operator):
    from playwright.sync_api import expect

    with browser_page(server) as page:
        log_in(page, operator)
        page.goto("/dashboard/t/acme/tasks/90382c93/")
        expect(page.get_by_role("heading", name="Task not found")).to_be_visible()
        card = page.locator("main .card")
        expect(card.locator("p").first).to_have_text("No task in acme has the id 90382c93.")
        expect(card.locator("p").nth(1)).to_contain_text("A task's page needs its whole id")
        expect(card.locator("p").nth(1)).to_contain_text("36 characters, this one 8")
        expect(card).to_contain_text("1 day for completed and failed tasks, 7 days for dead ones")
        both_schemes(page, "defects-task-not-found")
        page.emulate_media(color_scheme="dark")  # a primary button's label stays readable on the light accent
        expect(page.get_by_role("button", name="Open")).to_have_css("color", "rgb(13, 17, 23)")


def test_an_empty_dlq_draws_its_mark_without_an_emoji_font(server, operator, producer_bearer, worker_bearer):
    from playwright.sync_api import expect

    kill(server, producer_bearer, worker_bearer, "empty.cmd", "boom")
    with browser_page(server) as page:
        log_in(page, operator)
        page.goto("/dashboard/t/acme/dlq/empty.cmd/")
        page.get_by_role("button", name="Replay", exact=True).click()
        empty = page.locator(".card.empty")
        expect(empty).to_have_text("No dead tasks here.")  # no emoji, which renders as a box without its font
        expect(empty.locator("svg")).to_be_visible()
        both_schemes(page, "defects-dlq-empty")


def test_the_branded_csrf_page_and_the_favicon_still_hold(server):
    from playwright.sync_api import expect

    with browser_page(server) as page:
        assert page.goto("/favicon.ico").headers["content-type"].startswith("image/svg+xml")
        page.goto("/dashboard/login/")
        page.context.clear_cookies()  # the form's CSRF cookie is gone: its POST is refused
        page.get_by_label("Username").fill("someone")
        page.get_by_label("Password").fill("whatever")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="This page has expired")).to_be_visible()
        expect(page.locator(".brand")).to_be_visible()


def test_an_in_progress_task_labels_the_error_of_its_previous_attempt(server, operator, producer_bearer, worker_bearer):
    from playwright.sync_api import expect

    with codeq.Client(server, producer_bearer) as producer, codeq.Client(server, worker_bearer) as worker:
        task_id = producer.create("retry.cmd", {"n": 1}, max_attempts=3).id
        worker.claim(["retry.cmd"])
        worker.nack(task_id, delay_seconds=0, reason="ConnectionResetError: peer went away")
        assert worker.claim(["retry.cmd"], wait=10).id == task_id

    with browser_page(server) as page:
        log_in(page, operator)
        page.goto(f"/dashboard/t/acme/tasks/{task_id}/")
        expect(page.locator(".page-head")).to_contain_text("IN_PROGRESS")
        expect(page.get_by_role("heading", name="Previous attempt's error")).to_be_visible()
        expect(page.get_by_test_id("previous-error")).to_contain_text("ConnectionResetError: peer went away")
        expect(page.locator("pre.error-text")).to_have_count(0)  # not painted as this attempt's failure
        both_schemes(page, "defects-task")


def test_the_error_filter_finds_and_counts_what_replay_all_matching_would_move(platform, tenant, operator):
    from playwright.sync_api import expect

    engine = Engine(connect_store(settings.CODEQ_KV_URL), EngineConfig(prefix=platform.env["CODEQ_KV_PREFIX"]))
    engine.register_tenant("acme", tenant.shards)

    def bury(n: int, error: str) -> None:
        engine.enqueue_batch("acme", [NewTask("deep.cmd", {"i": i}, max_attempts=1) for i in range(n)])
        for task in engine.claim("acme", "bulk", ["deep.cmd"], count=n):
            engine.nack("acme", task.id, "bulk", reason=error)

    bury(1, "disk full on /var")  # died first: the oldest
    for _ in range(3):
        bury(700, "bad input")  # 2,100 newer deaths, more than a page's search used to read
    assert engine.dlq_count("acme", "deep.cmd") == 2101

    with browser_page(platform.base) as page:
        log_in(page, operator)
        page.goto("/dashboard/t/acme/dlq/deep.cmd/")
        page.get_by_label("Error contains").fill("disk")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_test_id("match-count")).to_have_text("1 dead task matches")
        expect(page.locator("tbody tr")).to_have_count(1)
        expect(page.locator("tbody tr")).to_contain_text("disk full on /var")
        both_schemes(page, "defects-dlq-filtered")
        page.get_by_role("button", name="Replay all matching…").click()
        expect(page.get_by_test_id("confirm-count")).to_have_text("1")
