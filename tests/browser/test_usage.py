"""The usage page in Debian's Chromium: today's tasks as bars of the chart, the quota, the CSV download."""

from __future__ import annotations

import csv
import io

import codeq
import pytest

from tenants import usage
from tests.browser.platform import CHROMIUM, browser_page, log_in, screenshots

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


def test_an_admin_reads_the_chart_the_quota_and_downloads_the_csv(server, admin, tenant, producer_bearer,
                                                                  worker_bearer):  # fmt: skip
    tenant.monthly_task_quota = 500
    tenant.save()
    with codeq.Client(server, producer_bearer) as producer, codeq.Client(server, worker_bearer) as worker:
        for n in range(5):
            producer.create("resize", {"n": n})
        for _ in range(3):
            worker.complete(worker.claim(["resize"]).id, {"ok": True})
    today = usage.day_of(usage.today_number()).isoformat()

    with browser_page(server) as page:
        log_in(page, admin)
        page.get_by_role("link", name="Usage").click()
        chart = page.get_by_test_id("usage-chart")
        assert chart.locator("rect.bar-created title").last.text_content() == f"{today}: 5 tasks created"
        assert chart.locator("rect.bar-completed title").last.text_content() == f"{today}: 3 tasks completed"
        assert chart.locator("rect.bar-created").last.bounding_box()["height"] > 0
        assert "5 of 500 tasks created this month; 495 left." in page.get_by_test_id("quota").inner_text()
        screenshots(page, "usage")

        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV").click()
        rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
        assert len(rows) == 30 and rows[-1]["day"] == today
        assert (rows[-1]["tasks_created"], rows[-1]["tasks_completed"]) == ("5", "3")
