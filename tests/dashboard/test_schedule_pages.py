"""The schedules pages: next and last run, pause / resume and run now for operators, create, edit and
delete for admins, every value checked as the API checks it, every write audited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from codeq_platform.base import kv
from codeq_platform.scheduler import schedules, services
from codeq_platform.scheduler.models import Schedule
from tenants.models import AuditEntry
from tests.dashboard.forms import login_as, submit

LIST = "/dashboard/t/acme/schedules/"
SPEC = {"cron": "*/5 * * * *", "timezone": "Europe/Paris", "command": "reports.build", "payload": '{"kind": "daily"}',
        "priority": "3", "max_attempts": "4", "webhook": "", "paused": ""}  # fmt: skip


@pytest.fixture
def nightly(tenant) -> Schedule:
    spec = services.ScheduleSpec(cron="0 3 * * *", command="backup.run", payload={"full": True})
    return services.put_schedule(tenant=tenant, name="nightly", spec=spec).schedule


def actions(client, **data):
    return submit(client, LIST, data, follow=True)


def test_the_list_shows_each_schedule_with_its_next_and_last_run(tenant, nightly):
    schedules.fire(nightly, nightly.next_run_at + timedelta(seconds=1))
    page = login_as(tenant, "viewer").get(LIST).content.decode()
    row = re.search(r'<tr data-schedule="nightly">(.*?)</tr>', page, re.S).group(1)
    assert "<code>0 3 * * *</code>" in row and "backup.run" in row
    stamp = r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC" data-moment-ms="\d+">'
    assert re.search(r'data-testid="next-run">' + stamp, row)
    nightly.refresh_from_db()
    assert nightly.last_task_id in row
    assert "Run now" not in page and "New schedule" not in page


def test_an_operator_pauses_and_resumes_and_each_is_audited(tenant, nightly):
    client = login_as(tenant, "operator", username="olga")
    paused = actions(client, action="pause", name="nightly").content.decode()
    assert "Paused schedule nightly" in paused and 'badge badge-warn">paused' in paused
    nightly.refresh_from_db()
    assert nightly.paused and nightly.next_run_at is None

    actions(client, action="resume", name="nightly")
    nightly.refresh_from_db()
    assert not nightly.paused and nightly.next_run_at > timezone.now()
    trail = list(AuditEntry.objects.filter(tenant=tenant, actor="olga").values_list("action", "target"))
    assert sorted(trail) == [("schedule.pause", "nightly"), ("schedule.resume", "nightly")]


def test_run_now_creates_exactly_one_task_however_often_the_form_is_sent(tenant, nightly):
    client = login_as(tenant, "operator", username="olga")
    page = client.get(LIST).content.decode()
    request_id = re.search(r'name="request_id" value="([^"]+)"', page).group(1)

    first = actions(client, action="run_now", name="nightly", request_id=request_id).content.decode()
    again = actions(client, action="run_now", name="nightly", request_id=request_id).content.decode()

    task_id = re.search(r"ran now: task ([\w-]+)", first).group(1)
    assert f"Already ran for this click: task {task_id}" in again
    assert kv.sync_engine().queue_stats("acme", "backup.run").ready == 1
    assert kv.sync_engine().get_task("acme", task_id).payload == '{"full":true}'
    nightly.refresh_from_db()
    assert nightly.last_task_id == task_id and nightly.next_run_at > timezone.now()
    assert AuditEntry.objects.get(tenant=tenant, action="schedule.run_now").task_ids == [task_id]
    fresh = re.search(r'name="request_id" value="([^"]+)"', client.get(LIST).content.decode()).group(1)
    assert fresh != request_id


def test_an_admin_creates_a_schedule_from_the_form(tenant):
    client = login_as(tenant, "admin", username="ada")
    r = actions(client, action="create", name="every-five", **SPEC)
    assert "Created schedule every-five" in r.content.decode()
    made = Schedule.objects.get(tenant=tenant, name="every-five")
    assert (made.cron, made.time_zone, made.command, made.payload) == ("*/5 * * * *", "Europe/Paris",
                                                                       "reports.build", {"kind": "daily"})  # fmt: skip
    assert (made.priority, made.max_attempts, made.paused) == (3, 4, False)
    assert AuditEntry.objects.get(tenant=tenant, action="schedule.create").actor == "ada"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("cron", "every day", "a cron rule has 5 fields"),
    ("timezone", "Mars/Olympus", "unknown time zone"),
    ("command", "has space", "invalid command"),
    ("priority", "12", "priority is from 0 to 9"),
    ("max_attempts", "500", "maxAttempts is from 0"),
    ("webhook", "ftp://x", "webhook must be an absolute http(s) URL"),
    ("payload", '{"a": ', "The payload is not valid JSON"),
    ("payload", '{"a": "\\u0000"}', "cannot hold the NUL character"),
])  # fmt: skip
def test_a_spec_the_api_would_refuse_is_a_form_error_on_its_field(tenant, field, value, message):
    client = login_as(tenant, "admin")
    r = submit(client, LIST, {"action": "create", "name": "bad", **SPEC, field: value})
    page = r.content.decode()
    assert r.status_code == 400
    assert re.search(rf'id="id_{field}-errors">[^<]*{re.escape(message)}', page, re.I), page
    assert not Schedule.objects.filter(tenant=tenant).exists()


def test_an_admin_edits_a_schedule_and_its_next_slot_follows_the_new_rule(tenant, nightly):
    client = login_as(tenant, "admin", username="ada")
    url = f"{LIST}nightly/"
    form = client.get(url).content.decode()
    assert "backup.run" in form and "Save schedule" in form

    r = submit(client, url, {**SPEC, "cron": "@hourly", "command": "backup.incremental"}, follow=True)

    assert "Saved schedule nightly" in r.content.decode()
    nightly.refresh_from_db()
    assert (nightly.cron, nightly.command, nightly.version) == ("@hourly", "backup.incremental", 2)
    assert nightly.next_run_at.minute == 0 and nightly.next_run_at - timezone.now() <= timedelta(hours=1)
    assert AuditEntry.objects.get(tenant=tenant, action="schedule.update").detail["cron"] == "@hourly"


def test_deleting_is_confirmed_first(tenant, nightly):
    client = login_as(tenant, "admin")
    confirm = submit(client, LIST, {"action": "delete", "name": "nightly"})
    assert "Delete schedule nightly?" in confirm.content.decode()
    assert Schedule.objects.filter(pk=nightly.pk).exists()
    done = submit(client, LIST, {"action": "delete", "name": "nightly", "confirmed": "yes"}, follow=True)
    assert "Deleted schedule nightly" in done.content.decode()
    assert not Schedule.objects.filter(pk=nightly.pk).exists()


def test_each_role_is_refused_what_it_may_not_do(tenant, nightly):
    viewer, operator = login_as(tenant, "viewer"), login_as(tenant, "operator")
    rid = "6f1c1a52-3b7e-4c55-9a7c-2f0e4f7c1d11"
    for data in ({"action": "pause"}, {"action": "run_now", "request_id": rid}):
        assert submit(viewer, LIST, {**data, "name": "nightly"}).status_code == 403
    for client in (viewer, operator):
        assert submit(client, LIST, {"action": "create", "name": "x", **SPEC}).status_code == 403
        assert submit(client, LIST, {"action": "delete", "name": "nightly", "confirmed": "yes"}).status_code == 403
        assert submit(client, f"{LIST}nightly/", SPEC).status_code == 403
        assert "Save schedule" not in client.get(f"{LIST}nightly/").content.decode()
    nightly.refresh_from_db()
    assert not nightly.paused and nightly.version == 1 and not nightly.last_task_id
    assert kv.sync_engine().queue_stats("acme", "backup.run").ready == 0


def test_another_tenants_schedule_and_bad_input_are_clear_4xx(tenant, foreign_tenant):
    spec = services.ScheduleSpec(cron="@daily", command="x")
    services.put_schedule(tenant=foreign_tenant, name="theirs", spec=spec)
    client = login_as(tenant, "admin")
    assert client.get(f"{LIST}theirs/").status_code == 404
    assert submit(client, LIST, {"action": "pause", "name": "theirs"}).status_code == 404
    assert submit(client, LIST, {"action": "explode", "name": "theirs"}).status_code == 404
    assert submit(client, LIST, {"action": "pause", "name": "nul\x00"}).status_code == 404
    assert client.get(f"{LIST}nul%00/").status_code == 404
    services.put_schedule(tenant=tenant, name="ours", spec=spec)
    assert submit(client, LIST, {"action": "explode", "name": "ours"}).status_code == 400
    assert submit(client, LIST, {"action": "run_now", "name": "ours", "request_id": "nope"}).status_code == 400
