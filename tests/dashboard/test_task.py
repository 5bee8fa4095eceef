"""The task page, reached by id search: status, pretty payload, result or error, lease and history."""

from __future__ import annotations

import re

from codeq_platform.engine import NewTask
from tests.dashboard.forms import login_as


def test_search_leads_to_the_task_page(member_client, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {"w": 640})).task

    r = member_client("viewer").get("/dashboard/t/acme/tasks/", {"id": f"  {task.id} "})

    assert r["Location"] == f"/dashboard/t/acme/tasks/{task.id}/"


def test_a_completed_task_shows_payload_result_and_history(member_client, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {"src": "cat.jpg", "w": 640}, priority=7)).task
    queues.claim("acme", "worker-9", ["media.resize"])
    queues.complete("acme", task.id, "worker-9", {"url": "cat-640.jpg"})

    page = member_client("viewer").get(f"/dashboard/t/acme/tasks/{task.id}/").content.decode()

    assert '<span class="badge badge-ok" data-live-status>COMPLETED</span>' in page
    assert "{\n  &quot;src&quot;: &quot;cat.jpg&quot;,\n  &quot;w&quot;: 640\n}" in page
    assert "&quot;url&quot;: &quot;cat-640.jpg&quot;" in page
    assert "1 of 5" in page and 'last held by <span class="mono">worker-9</span>' in page
    for kind in ("enqueued", "claimed", "completed"):
        assert f'<span class="badge">{kind}</span>' in page


def test_a_leased_task_shows_its_holder_and_countdown(member_client, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {})).task
    leased = queues.claim("acme", "worker-1", ["media.resize"], lease_ms=120_000)[0]

    page = member_client("viewer").get(f"/dashboard/t/acme/tasks/{task.id}/").content.decode()

    assert "IN_PROGRESS" in page
    assert f'data-expires-ms="{leased.lease_until_ms}">' in page
    assert '<dd class="mono">worker-1</dd>' in page


def test_a_dead_task_shows_its_error(member_client, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {}, max_attempts=1)).task
    queues.claim("acme", "w", ["media.resize"])
    queues.nack("acme", task.id, "w", reason="disk full")

    page = member_client("viewer").get(f"/dashboard/t/acme/tasks/{task.id}/").content.decode()

    assert '<span class="badge badge-bad" data-live-status>FAILED</span>' in page
    assert "disk full" in page


def test_an_unknown_id_gets_a_friendly_not_found_page(member_client, queues):
    r = member_client("viewer").get("/dashboard/t/acme/tasks/does-not-exist/")

    assert r.status_code == 404
    page = r.content.decode()
    assert "Task not found" in page and "does-not-exist" in page and "Try another id" in page


def test_an_id_the_url_cannot_hold_is_refused_clearly(member_client, queues):
    r = member_client("viewer").get("/dashboard/t/acme/tasks/", {"id": "a/b"})

    assert r.status_code == 400 and "A task id holds only letters" in r.content.decode()


def test_another_tenants_task_is_not_found(member_client, foreign_tenant, queues):
    task = queues.enqueue("globex", NewTask("secret.work", {"k": "v"})).task

    r = member_client("admin").get(f"/dashboard/t/acme/tasks/{task.id}/")

    assert r.status_code == 404 and "secret.work" not in r.content.decode()


def _act(client, task_id: str, data: dict, follow: bool = True):
    """POST a task page's button, with the CSRF token of the page that shows it."""
    client.get(f"/dashboard/t/acme/tasks/{task_id}/")
    token = client.cookies["csrftoken"].value
    return client.post(f"/dashboard/t/acme/tasks/{task_id}/act/", {**data, "csrfmiddlewaretoken": token}, follow=follow)


def test_the_buttons_follow_the_tasks_state_and_the_members_role(tenant, queues):
    ready = queues.enqueue("acme", NewTask("media.resize", {})).task
    leased = queues.enqueue("acme", NewTask("other", {})).task
    queues.claim("acme", "w", ["other"])

    def buttons(role: str, task_id: str) -> list[str]:
        page = login_as(tenant, role).get(f"/dashboard/t/acme/tasks/{task_id}/").content.decode()
        return re.findall(r'name="action" value="(\w+)"', page)

    assert buttons("viewer", ready.id) == []
    assert buttons("operator", ready.id) == ["cancel"]
    assert buttons("admin", ready.id) == ["cancel", "delete"]
    assert buttons("operator", leased.id) == ["release"]


def test_an_operator_releases_a_lease_from_the_task_page(tenant, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {})).task
    queues.claim("acme", "worker-3", ["media.resize"])

    r = _act(login_as(tenant, "operator", username="olivia"), task.id, {"action": "release"})

    page = r.content.decode()
    assert "1 task released back to the ready queue." in page
    assert r.redirect_chain[-1][0] == f"/dashboard/t/acme/tasks/{task.id}/"
    assert "released by an operator; olivia took it from worker-3" in page
    assert queues.get_task("acme", task.id).state == "ready"


def test_replay_from_the_task_page_and_a_viewer_is_refused(tenant, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {}, max_attempts=1)).task
    queues.claim("acme", "w", ["media.resize"])
    queues.nack("acme", task.id, "w", reason="disk full")

    refused = _act(login_as(tenant, "viewer"), task.id, {"action": "replay"}, follow=False)
    assert refused.status_code == 403 and queues.get_task("acme", task.id).state == "dead"

    r = _act(login_as(tenant, "operator"), task.id, {"action": "replay"})
    assert "1 task replayed to the ready queue." in r.content.decode()
    assert queues.get_task("acme", task.id).state == "ready"


def test_deleting_from_the_task_page_confirms_then_returns_to_the_queue(tenant, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {})).task
    admin = login_as(tenant, "admin")

    confirm = _act(admin, task.id, {"action": "delete"}, follow=False)
    assert 'data-testid="confirm-count">1</strong>' in confirm.content.decode()
    r = _act(admin, task.id, {"action": "delete", "confirmed": "yes"})

    assert r.redirect_chain[-1][0] == "/dashboard/t/acme/queues/media.resize/"
    assert "1 task deleted for good." in r.content.decode()


def test_every_attempt_shows_its_error_and_the_next_ones_countdown_in_human_times(tenant, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {}, max_attempts=5)).task
    queues.claim("acme", "worker-1", ["media.resize"])
    queues.nack("acme", task.id, "worker-1", delay_ms=600_000, reason="ConnectionError: s3")
    due = queues.get_task("acme", task.id).due_ms

    page = login_as(tenant, "viewer").get(f"/dashboard/t/acme/tasks/{task.id}/").content.decode()

    attempts = page[page.index('id="attempts-h"') : page.index('id="events-h"')]
    assert "worker-1" in attempts and "ConnectionError: s3" in attempts and "failed, to be retried" in attempts
    assert "Next attempt" in page and f'data-expires-ms="{due}"' in page and ">9 m 5" in page
    assert "Retry now" in login_as(tenant, "operator").get(f"/dashboard/t/acme/tasks/{task.id}/").content.decode()
    history = page[page.index('id="events-h"') :]
    assert str(due) not in re.sub(r'(data-moment-ms|data-expires-ms)="\d+"', "", history)  # no raw epoch ms
    assert "next attempt due <time" in history
