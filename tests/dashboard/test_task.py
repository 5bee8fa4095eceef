"""The task page, reached by id search: status, pretty payload, result or error, lease and history."""

from __future__ import annotations

from codeq_platform.engine import NewTask


def test_search_leads_to_the_task_page(member_client, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {"w": 640})).task

    r = member_client("viewer").get("/dashboard/t/acme/tasks/", {"id": f"  {task.id} "})

    assert r["Location"] == f"/dashboard/t/acme/tasks/{task.id}/"


def test_a_completed_task_shows_payload_result_and_history(member_client, queues):
    task = queues.enqueue("acme", NewTask("media.resize", {"src": "cat.jpg", "w": 640}, priority=7)).task
    queues.claim("acme", "worker-9", ["media.resize"])
    queues.complete("acme", task.id, "worker-9", {"url": "cat-640.jpg"})

    page = member_client("viewer").get(f"/dashboard/t/acme/tasks/{task.id}/").content.decode()

    assert '<span class="badge badge-ok">COMPLETED</span>' in page
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

    assert '<span class="badge badge-bad">FAILED</span>' in page
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
