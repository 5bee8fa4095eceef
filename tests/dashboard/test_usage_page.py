"""The usage page: every member reads the days, admins also the quota; a chart, a table and a CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from codeq_platform.base import kv
from codeq_platform.engine import NewTask
from tenants import usage
from tenants.models import UsageDay
from tests.dashboard.forms import login_as


def url(tenant, suffix: str = "") -> str:
    return f"/dashboard/t/{tenant.slug}/usage/{suffix}"


def today() -> date:
    return usage.day_of(usage.today_number())


@pytest.fixture
def busy_tenant(tenant, queues):
    """Three tasks created today (one completed, one failed), and a rolled-up day ten days ago."""
    for n in range(3):
        queues.enqueue(tenant.slug, NewTask(command="resize", payload={"n": n}))
    done, failed = queues.claim(tenant.slug, "w", ["resize"], count=2)
    queues.complete(tenant.slug, done.id, "w", {"ok": True})
    queues.fail(tenant.slug, failed.id, "w", "bad")
    UsageDay.objects.create(tenant=tenant, day=today() - timedelta(days=10), tasks_created=40, tasks_completed=38,
                            tasks_failed=2, tasks_dead=1, api_requests=120, payload_bytes=2048)  # fmt: skip
    return tenant


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_members_see_the_days_but_only_admins_the_quota(busy_tenant, role):
    busy_tenant.monthly_task_quota = 1000
    busy_tenant.save()
    page = login_as(busy_tenant, role).get(url(busy_tenant))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="usage-chart"' in text and 'data-testid="quota"' not in text
    assert f"{today().isoformat()}: 3 tasks created" in text


def test_admins_see_the_quota_used_limit_and_reset(busy_tenant):
    busy_tenant.monthly_task_quota = 1000
    busy_tenant.save()
    text = login_as(busy_tenant, "admin").get(url(busy_tenant)).content.decode()
    next_month = (today().replace(day=28) + timedelta(days=4)).replace(day=1)
    assert "<strong>3</strong> of <strong>1,000</strong> tasks created this month; 997 left." in text
    assert f'Resets <time datetime="{next_month.isoformat()}T00:00:00.000Z"' in text


def test_without_a_quota_admins_are_told_so(busy_tenant):
    text = login_as(busy_tenant, "admin").get(url(busy_tenant)).content.decode()
    assert "No monthly task quota" in text


def test_the_chart_has_a_bar_per_day_and_figure_and_the_table_every_figure(busy_tenant):
    ten_days_ago = (today() - timedelta(days=10)).isoformat()
    text = login_as(busy_tenant, "viewer").get(url(busy_tenant)).content.decode()
    for title in (f"{ten_days_ago}: 40 tasks created", f"{ten_days_ago}: 38 tasks completed",
                  f"{ten_days_ago}: 2 tasks failed", f"{today().isoformat()}: 1 tasks completed"):  # fmt: skip
        assert f"<title>{title}</title>" in text
    assert '<td class="num">120</td>' in text and "2.0\xa0KB" in text


def test_the_csv_has_one_row_per_day_oldest_first(busy_tenant):
    first = today() - timedelta(days=10)
    response = login_as(busy_tenant, "viewer").get(url(busy_tenant, "csv/"), {"from": first.isoformat()})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="acme-usage-{first.isoformat()}-{today().isoformat()}.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 11
    assert rows[0] == {"day": first.isoformat(), "tasks_created": "40", "tasks_completed": "38", "tasks_failed": "2",
                       "tasks_dead_lettered": "1", "api_requests": "120", "payload_bytes": "2048"}  # fmt: skip
    assert rows[-1]["day"] == today().isoformat()
    assert (rows[-1]["tasks_created"], rows[-1]["tasks_completed"], rows[-1]["tasks_failed"]) == ("3", "1", "1")


@pytest.mark.parametrize("query", [{"from": "yesterday"}, {"to": "2026-13-01"},
                                   {"from": "2026-02-01", "to": "2026-01-01"},
                                   {"from": "2020-01-01", "to": "2026-01-01"}])  # fmt: skip
@pytest.mark.parametrize("suffix", ["", "csv/"])
def test_a_bad_range_is_a_400(tenant, query, suffix):
    response = login_as(tenant, "viewer").get(url(tenant, suffix), query)
    assert response.status_code == 400
    assert "Pick the first and last day again." in response.content.decode()


def test_another_tenants_usage_is_not_found(tenant, foreign_tenant):
    client = login_as(foreign_tenant, "admin")
    assert client.get(url(tenant)).status_code == 404
    assert client.get(url(tenant, "csv/")).status_code == 404


def test_an_unreachable_store_answers_503(tenant, settings):
    viewer = login_as(tenant, "viewer")
    real_url = settings.CODEQ_KV_URL
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    try:
        for suffix in ("", "csv/"):
            response = viewer.get(url(tenant, suffix))
            assert response.status_code == 503 and "The queue store is not answering" in response.content.decode()
    finally:
        settings.CODEQ_KV_URL = real_url
        kv.reset()
