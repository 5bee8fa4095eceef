"""The Metrics and Workers pages in Debian's Chromium: figures, charts, live updates, and who may see them."""

from __future__ import annotations

from pathlib import Path

import codeq
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import member
from tests.browser.platform import CHROMIUM, PASSWORD, browser_page, browser_pages, log_in
from tests.factories import TenantFactory

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]
SHOTS = Path("/tmp/shots-metrics")
LIVE = 60_000  # ms: a flush, a stats tick and a refresh on a busy machine


def shots(page, name: str) -> None:
    """Full-page screenshots at 1440 and 390 px, light and dark, outside the repository."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=SHOTS / f"{name}-{width}-{scheme}.png", full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 800})


def work(server: str, producer_bearer: str, worker_bearer: str, *, done: int, failed: int, worker_id: str) -> None:
    headers = codeq.worker_headers(worker_id)
    with codeq.Client(server, producer_bearer) as producer, codeq.Client(server, worker_bearer,
                                                                         headers=headers) as worker:  # fmt: skip
        for n in range(done + failed):
            producer.create("media.resize", {"n": n})
        for _ in range(done):
            worker.complete(worker.claim(["media.resize"]).id, {"ok": True})
        for _ in range(failed):
            worker.fail(worker.claim(["media.resize"]).id, "boom")


def test_a_viewer_follows_the_metrics_live_and_picks_a_window(server, tenant, producer_bearer, worker_bearer):
    viewer = member(tenant, "vera", "viewer")
    work(server, producer_bearer, worker_bearer, done=2, failed=1, worker_id="box-1:11:aa")
    with browser_page(server) as page:
        log_in(page, viewer)
        page.get_by_role("link", name="Metrics").click()
        summary = page.get_by_test_id("metric-summary")
        expect(summary.get_by_test_id("completed")).to_have_text("2", timeout=LIVE)
        expect(summary.get_by_test_id("failed")).to_have_text("1")
        expect(summary.get_by_test_id("failure-rate")).to_have_text("33.3 %")
        assert page.get_by_test_id("chart-throughput").locator("polyline.line-ok").count() >= 1
        assert "completed 2" in page.get_by_test_id("chart-throughput").locator("rect.slot title").last.text_content()

        work(server, producer_bearer, worker_bearer, done=3, failed=0, worker_id="box-1:11:aa")  # no reload
        expect(summary.get_by_test_id("completed")).to_have_text("5", timeout=LIVE)
        expect(page.get_by_test_id("metric-summary").get_by_test_id("depth")).to_have_text("0", timeout=LIVE)
        shots(page, "metrics-1h")

        page.get_by_label("24h").check()
        page.wait_for_url("**/metrics/?window=24h*")
        expect(page.get_by_test_id("completed")).to_have_text("5")
        page.get_by_label("Command").select_option("media.resize")
        page.wait_for_url("**command=media.resize*")
        expect(page.get_by_test_id("completed")).to_have_text("5")
        shots(page, "metrics-24h-command")


def test_the_workers_page_names_each_worker_and_shows_a_new_one_live(server, tenant, producer_bearer,
                                                                    worker_bearer):  # fmt: skip
    viewer = member(tenant, "vic", "viewer")
    work(server, producer_bearer, worker_bearer, done=2, failed=0, worker_id="box-3:33:cc")
    with browser_page(server) as page:
        log_in(page, viewer)
        page.get_by_role("link", name="Workers").click()
        row = page.locator('tr[data-worker$="/box-3:33:cc"]')
        expect(row).to_be_visible(timeout=LIVE)
        token_name = row.locator("td").first.inner_text()
        assert token_name and not token_name.startswith("token:")
        assert "box-3:33:cc" in row.inner_text()
        expect(row.get_by_test_id("claims-recent")).to_have_text("2")

        work(server, producer_bearer, worker_bearer, done=1, failed=0, worker_id="box-2:22:bb")  # no reload
        expect(page.locator('tr[data-worker$="/box-2:22:bb"]')).to_be_visible(timeout=LIVE)
        shots(page, "workers")


def test_only_members_see_a_tenant_s_metrics_and_workers(server, tenant, admin):
    outsider = member(TenantFactory(slug="globex"), "otto", "admin")
    with browser_pages(server) as new_page:
        page = new_page()
        page.goto("/dashboard/")
        page.get_by_label("Username").fill(outsider)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/dashboard/t/globex/")
        assert page.get_by_role("link", name="Metrics").get_attribute("href") == "/dashboard/t/globex/metrics/"
        for path in ("/dashboard/t/acme/metrics/", "/dashboard/t/acme/workers/?part=table",
                     "/dashboard/t/acme/metrics/?part=charts"):  # fmt: skip
            assert page.request.get(path).status == 404
        admin_page = new_page()
        log_in(admin_page, admin)
        assert admin_page.request.get("/dashboard/t/acme/metrics/?window=2d").status == 400
        assert admin_page.request.get("/dashboard/t/acme/metrics/?window=7d").status == 200
