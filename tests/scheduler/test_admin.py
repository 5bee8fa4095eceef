"""The Django admin lists schedules but leaves their writes to the API's service."""

from __future__ import annotations

import pytest

from codeq_platform.scheduler import services

pytestmark = pytest.mark.django_db


def test_schedules_are_listed_but_written_only_through_the_api(admin_client, tenant):
    spec = services.ScheduleSpec(cron="@daily", command="report")
    schedule = services.put_schedule(tenant=tenant, name="nightly", spec=spec).schedule

    page = admin_client.get("/admin/scheduler/schedule/")

    assert page.status_code == 200 and "nightly" in page.content.decode()
    assert admin_client.get("/admin/scheduler/schedule/add/").status_code == 403
    admin_client.post(f"/admin/scheduler/schedule/{schedule.pk}/change/", {"cron": "* * * * *"})
    schedule.refresh_from_db()
    assert schedule.cron == "@daily"
