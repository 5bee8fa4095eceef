"""The overview's queue controls: paused commands and caps shown, Pause/Resume for operators and admins."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from codeq_platform.engine import NewTask
from tenants.models import AuditEntry


def _controls(page: str, command: str) -> str:
    match = re.search(rf'<tr data-queue="{re.escape(command)}">(.*?)</tr>', page, re.S)
    assert match, f"no controls for {command}"
    return match.group(1)


def test_the_overview_shows_paused_commands_and_caps(member_client, queues):
    queues.enqueue("acme", NewTask("media.resize", {}))
    queues.enqueue("acme", NewTask("mail.send", {}))
    queues.pause_queue("acme", "media.resize")
    queues.limit_queue("acme", "mail.send", 7)

    page = member_client("viewer").get("/dashboard/t/acme/").content.decode()

    assert "paused" in _controls(page, "media.resize")
    mail = _controls(page, "mail.send")
    assert "running" in mail and "7" in mail
    assert "<button" not in _controls(page, "media.resize")  # a viewer sees no button


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_an_operator_pauses_and_resumes_a_command(member_client, queues, tenant, role):
    queues.enqueue("acme", NewTask("media.resize", {}))
    client = member_client(role)
    assert "Pause media.resize" in client.get("/dashboard/t/acme/").content.decode()

    r = client.post("/dashboard/t/acme/queues/media.resize/pause/")

    assert r.status_code == 302 and r["Location"] == "/dashboard/t/acme/"
    assert queues.claim("acme", "w", ["media.resize"]) == []
    page = client.get("/dashboard/t/acme/").content.decode()
    assert "Resume media.resize" in page
    client.post("/dashboard/t/acme/queues/media.resize/resume/")
    assert len(queues.claim("acme", "w", ["media.resize"])) == 1
    actions = list(AuditEntry.objects.filter(tenant=tenant).order_by("id").values_list("action", "target"))
    assert actions == [("queue.pause", "media.resize"), ("queue.resume", "media.resize")]


def test_a_viewer_may_not_pause(member_client, queues):
    queues.enqueue("acme", NewTask("media.resize", {}))

    r = member_client("viewer").post("/dashboard/t/acme/queues/media.resize/pause/")

    assert r.status_code == 403
    assert len(queues.claim("acme", "w", ["media.resize"])) == 1


def test_pausing_takes_a_post_with_the_csrf_token(tenant, queues):
    from tests.factories import MembershipFactory

    client = Client(enforce_csrf_checks=True)
    client.force_login(MembershipFactory(tenant=tenant, role="operator").user)
    assert client.get("/dashboard/t/acme/queues/media.resize/pause/").status_code == 405
    assert client.post("/dashboard/t/acme/queues/media.resize/pause/").status_code == 403
    assert not queues.queue_stats("acme", "media.resize").paused


def test_a_bad_command_name_is_a_400(member_client):
    r = member_client("operator").post("/dashboard/t/acme/queues/bad%20name/pause/")
    assert r.status_code == 400


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_an_operator_caps_a_command_s_tasks_in_flight_and_lifts_the_cap(member_client, queues, tenant, role):
    queues.enqueue_batch("acme", [NewTask("media.resize", {"n": n}) for n in range(3)])
    client = member_client(role)
    assert 'name="max_in_flight"' in _controls(client.get("/dashboard/t/acme/").content.decode(), "media.resize")

    r = client.post("/dashboard/t/acme/queues/media.resize/cap/", {"max_in_flight": "2"})

    assert r.status_code == 302 and r["Location"] == "/dashboard/t/acme/"
    assert len(queues.claim("acme", "w", ["media.resize"], count=3)) == 2
    assert 'value="2"' in _controls(client.get("/dashboard/t/acme/").content.decode(), "media.resize")
    client.post("/dashboard/t/acme/queues/media.resize/cap/", {"max_in_flight": ""})
    assert len(queues.claim("acme", "w", ["media.resize"])) == 1
    details = list(AuditEntry.objects.filter(tenant=tenant, action="queue.limits").order_by("id")
                   .values_list("target", "detail"))  # fmt: skip
    assert details == [("media.resize", {"maxInFlight": 2}), ("media.resize", {"maxInFlight": None})]


@pytest.mark.parametrize("cap", ["-1", "0", "two", "1000001"])
def test_a_cap_that_is_not_a_count_of_tasks_is_a_400_and_changes_nothing(member_client, queues, cap):
    queues.enqueue("acme", NewTask("media.resize", {}))

    r = member_client("operator").post("/dashboard/t/acme/queues/media.resize/cap/", {"max_in_flight": cap})

    assert r.status_code == 400 and b"The cap on tasks in flight" in r.content
    assert queues.queue_stats("acme", "media.resize").max_in_flight is None


def test_a_viewer_may_not_cap_a_command(member_client, queues):
    queues.enqueue("acme", NewTask("media.resize", {}))

    r = member_client("viewer").post("/dashboard/t/acme/queues/media.resize/cap/", {"max_in_flight": "1"})

    assert r.status_code == 403
    assert queues.queue_stats("acme", "media.resize").max_in_flight is None
