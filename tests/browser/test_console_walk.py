"""The whole console, walked as a viewer, an operator and an admin on a phone and a desktop, light and dark:
the menu folds behind one line on a phone, every page marks its section, nothing scrolls sideways, every
time reads the same way, and no page breaks its Content-Security-Policy.

Screenshots of every page go to ``var/screenshots/walk-*``.
"""

from __future__ import annotations

import re

import codeq
import httpx
import pytest

from codeq_platform.scheduler import services
from tests.browser.conftest import member
from tests.browser.platform import CHROMIUM, SCREENSHOTS, browser_pages, log_in, screenshots

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
SECTIONS = {
    "viewer": ["Overview", "Queues", "Metrics", "Workers", "Leases", "DLQ", "Task search", "Schedules", "Usage",
               "Audit"],
    "operator": ["Overview", "Queues", "Metrics", "Workers", "Leases", "DLQ", "Task search", "Schedules",
                 "Worker subscriptions", "Usage", "Audit"],
    "admin": ["Overview", "Queues", "Metrics", "Workers", "Leases", "DLQ", "Task search", "Schedules",
              "Worker subscriptions", "Webhooks", "Tokens", "Members", "Usage", "Audit"],
}  # fmt: skip


def seed(server: str, producer: str, worker: str, tenant) -> dict[str, str]:
    """Tasks of img.thumb in every state, a schedule and a worker subscription; the task ids by state."""
    ids = {}
    with codeq.Client(server, producer) as producing, codeq.Client(server, worker) as working:
        for state in ("completed", "failed", "dead", "leased"):
            ids[state] = producing.create("img.thumb", {"state": state}, max_attempts=1).id
            claimed = working.claim(["img.thumb"])
            assert claimed.id == ids[state]
            if state == "completed":
                working.complete(claimed.id, {"ok": True})
            elif state == "failed":
                working.fail(claimed.id, "ValueError: no such image")
            elif state == "dead":
                assert working.nack(claimed.id, reason="HTTP 503 from the resizer").dead
        ids["ready"] = producing.create("img.thumb", {"state": "ready"}).id
        ids["delayed"] = producing.create("img.thumb", {"state": "delayed"}, delay_seconds=3600).id
    spec = services.ScheduleSpec(cron="0 3 * * *", command="backup.run", payload={"full": True})
    services.put_schedule(tenant=tenant, name="nightly", spec=spec)
    answer = httpx.post(f"{server}/v1/codeq/workers/subscriptions", headers={"Authorization": f"Bearer {worker}"},
                        json={"callbackUrl": "https://workers.example.com/wake", "eventTypes": ["img.thumb"],
                              "ttlSeconds": 900, "deliveryMode": "group", "groupId": "thumbs"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return ids


def test_the_menu_folds_behind_one_line_on_a_phone(server, tenant):
    from playwright.sync_api import expect

    users = {role: member(tenant, f"phone-{role}", role) for role in SECTIONS}
    with browser_pages(server) as new_page:
        for role, sections in SECTIONS.items():
            page = new_page()
            page.set_viewport_size(PHONE)
            log_in(page, users[role])
            nav = page.get_by_role("navigation", name="Sections")
            menu = nav.locator("summary")
            expect(menu).to_have_text("Menu · Overview")
            expect(nav.get_by_role("link")).to_have_count(0)  # folded on load: no entry is shown
            heading = page.get_by_role("heading", level=1).first.bounding_box()
            assert heading["y"] + heading["height"] < PHONE["height"] / 3, heading  # the page starts at the top

            menu.focus()
            page.keyboard.press("Enter")  # a keyboard opens it as a click does
            expect(nav.get_by_role("link")).to_have_text(sections)
            for link in nav.get_by_role("link").all():
                box = link.bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], link.inner_text()
            page.screenshot(path=SCREENSHOTS / f"walk-menu-open-{role}-390.png")
            nav.get_by_role("link", name="Queues", exact=True).click()
            page.wait_for_url("**/dashboard/t/acme/queues/")
            expect(menu).to_have_text("Menu · Queues")
            expect(nav.get_by_role("link")).to_have_count(0)

            page.set_viewport_size(DESKTOP)  # a desktop shows the whole menu, no fold
            expect(menu).to_be_hidden()
            expect(nav.get_by_role("link")).to_have_text(sections)
            expect(nav.get_by_role("link", name="Queues", exact=True)).to_have_attribute("aria-current", "page")


def pages_of(ids: dict[str, str], role: str) -> dict[str, tuple[str, str]]:
    """Each page of the walk: its name, path under the tenant and the section its menu marks."""
    walk = {
        "overview": ("", "Overview"), "metrics": ("metrics/", "Metrics"), "workers": ("workers/", "Workers"),
        "queues": ("queues/", "Queues"), "leases": ("leases/", "Leases"), "dlq": ("dlq/", "DLQ"),
        "dlq-command": ("dlq/img.thumb/", "DLQ"), "search": ("tasks/?command=img.thumb", "Task search"),
        "schedules": ("schedules/", "Schedules"), "schedule": ("schedules/nightly/", "Schedules"),
        "usage": ("usage/", "Usage"), "audit": ("audit/", "Audit"),
    }  # fmt: skip
    for state in ("ready", "delayed", "in_flight", "finished", "dead"):
        walk[f"queue-{state}"] = (f"queues/img.thumb/?state={state}", "Queues")
    for state, task_id in ids.items():
        walk[f"task-{state}"] = (f"tasks/{task_id}/", "Task search")
    if role != "viewer":
        walk["subscriptions"] = ("subscriptions/", "Worker subscriptions")
    if role == "admin":
        walk |= {"tokens": ("tokens/", "Tokens"), "webhooks": ("webhooks/", "Webhooks"),
                 "members": ("members/", "Members"),
                 "dlq-edit": (f"dlq/img.thumb/{ids['dead']}/edit/", "DLQ")}  # fmt: skip
    return walk


TIME = re.compile(r"^(just now|(in )?\d+ [smhd]( \d+ [smhd])?( ago)?)$")


def test_every_page_of_the_console_for_every_role_fits_marks_its_section_and_reads_times_one_way(
    server, tenant, producer_bearer, worker_bearer
):
    ids = seed(server, producer_bearer, worker_bearer, tenant)
    users = {role: member(tenant, f"walk-{role}", role) for role in SECTIONS}
    with browser_pages(server) as new_page:
        for role in SECTIONS:
            page = new_page()
            log_in(page, users[role])
            for name, (path, section) in pages_of(ids, role).items():
                answer = page.goto(f"/dashboard/t/acme/{path}")
                assert answer.status == 200, (role, name, answer.status)
                for size in (DESKTOP, PHONE):
                    page.set_viewport_size(size)
                    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), (role, name, size)
                    assert page.locator("nav .navmenu summary").inner_text().endswith(f"· {section}"), (role, name)
                for stamp in page.locator("main time").all():  # every moment: relative text, its UTC time on hover
                    if re.fullmatch(r"\d{4}-\d\d-\d\d", stamp.get_attribute("datetime")):
                        continue  # a day (usage per day) is a date, not a moment
                    assert TIME.match(stamp.inner_text()), (role, name, stamp.inner_text())
                    assert stamp.get_attribute("title").endswith(" UTC"), (role, name)
                no_error = page.locator("main .error-text").filter(has_text=re.compile(r"^—$"))
                assert no_error.count() == 0, (role, name)  # a missing error is muted, not an alarm in red
                schemes = ("light", "dark") if role == "admin" else ("light",)
                for scheme in schemes:
                    page.emulate_media(color_scheme=scheme)
                    screenshots(page, f"walk-{role}-{name}-{scheme}")
                page.emulate_media(color_scheme="light")
