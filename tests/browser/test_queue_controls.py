"""The overview's Pause/Resume buttons in Debian's Chromium: a viewer sees none; an operator's pause makes
the API's claim come back empty (204) until the operator resumes."""

from __future__ import annotations

import codeq
import pytest

from tests.browser.conftest import member
from tests.browser.platform import CHROMIUM, SCREENSHOTS, browser_page, log_in

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


def test_a_viewer_sees_the_state_but_no_button(server, tenant, producer_bearer):
    from playwright.sync_api import expect

    viewer = member(tenant, "vera", "viewer")
    with codeq.Client(server, producer_bearer) as producing:
        producing.create("img.thumb", {"src": "cat.jpg"})

    with browser_page(server) as page:
        log_in(page, viewer)
        row = page.locator('tr[data-queue="img.thumb"]')
        expect(row).to_contain_text("running")
        expect(page.get_by_role("button", name="Pause img.thumb")).to_have_count(0)


def test_an_operator_pauses_a_command_and_claims_get_nothing_until_resumed(
    server, operator, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    with codeq.Client(server, producer_bearer) as producing:
        producing.create("img.thumb", {"src": "cat.jpg"})

    with browser_page(server) as page, codeq.Client(server, worker_bearer) as working:
        log_in(page, operator)
        page.get_by_role("button", name="Pause img.thumb").click()
        expect(page.locator('tr[data-queue="img.thumb"]')).to_contain_text("paused")
        page.screenshot(path=SCREENSHOTS / "overview-paused.png", full_page=True)

        assert working.claim(["img.thumb"]) is None  # the API answered 204

        page.get_by_role("button", name="Resume img.thumb").click()
        expect(page.locator('tr[data-queue="img.thumb"]')).to_contain_text("running")
        claimed = working.claim(["img.thumb"])
        assert claimed is not None and claimed.command == "img.thumb"


def test_an_operator_caps_a_command_s_tasks_in_flight_from_the_overview(
    server, operator, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    with codeq.Client(server, producer_bearer) as producing:
        for n in range(3):
            producing.create("img.crop", {"n": n})

    with browser_page(server) as page, codeq.Client(server, worker_bearer) as working:
        log_in(page, operator)
        page.get_by_label("Cap on tasks in flight for img.crop").fill("1")
        page.get_by_role("button", name="Set cap for img.crop").click()
        expect(page.get_by_label("Cap on tasks in flight for img.crop")).to_have_value("1")
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=SCREENSHOTS / f"overview-capped-{width}.png", full_page=True)

        assert working.claim(["img.crop"]) is not None
        assert working.claim(["img.crop"]) is None  # the cap of 1 is reached: 204

        page.get_by_label("Cap on tasks in flight for img.crop").fill("")
        page.get_by_role("button", name="Set cap for img.crop").click()
        expect(page.get_by_label("Cap on tasks in flight for img.crop")).to_have_value("")
        assert working.claim(["img.crop"]) is not None
