"""Task search: an exact id opens the task, an idempotency key is a direct lookup, and id prefix, tag,
error text, state and command search every state a bounded page at a time."""

import re

from codeq_platform.engine import NewTask
from dashboard import search


def ids_on(response) -> set[str]:
    return set(re.findall(r'<tr data-task-id="([^"]+)">', response.content.decode()))


def kill(queues, command="x", error="boom", **fields):
    task = queues.enqueue("acme", NewTask(command, {}, max_attempts=1, **fields)).task
    claimed = queues.claim("acme", "w", [command])[0]
    queues.nack("acme", claimed.id, "w", reason=error)
    return task


def test_an_exact_id_opens_the_task_and_a_start_of_one_lists_the_matches(member_client, queues):
    for task_id in ("order-1", "order-2", "invoice-1"):
        queues.enqueue("acme", NewTask("x", {}, task_id=task_id))
    client = member_client("viewer")

    exact = client.get("/dashboard/t/acme/tasks/", {"id": "order-1"})
    prefix = client.get("/dashboard/t/acme/tasks/", {"id": "order-"})

    assert exact.status_code == 302 and exact["Location"] == "/dashboard/t/acme/tasks/order-1/"
    assert prefix.status_code == 200 and ids_on(prefix) == {"order-1", "order-2"}


def test_idempotency_key_finds_its_task_whatever_its_state(member_client, queues):
    task = kill(queues, idempotency_key="invoice-2026-17")
    queues.enqueue("acme", NewTask("x", {}, idempotency_key="invoice-2026-18"))

    r = member_client("viewer").get("/dashboard/t/acme/tasks/", {"key": "invoice-2026-17"})

    assert ids_on(r) == {task.id}
    assert "dead" in r.content.decode()


def test_tag_error_text_and_state_search_across_states(member_client, queues):
    tagged = queues.enqueue("acme", NewTask("x", {}, tags=["Customer-7"])).task
    timed_out = kill(queues, command="y", error="upstream Timeout after 30 s")
    kill(queues, command="y", error="disk full")
    client = member_client("viewer")

    assert ids_on(client.get("/dashboard/t/acme/tasks/", {"tag": "customer-7"})) == {tagged.id}
    assert ids_on(client.get("/dashboard/t/acme/tasks/", {"error": "timeout"})) == {timed_out.id}
    assert len(ids_on(client.get("/dashboard/t/acme/tasks/", {"state": "dead", "command": "Y"}))) == 2
    assert ids_on(client.get("/dashboard/t/acme/tasks/", {"state": "ready"})) == {tagged.id}


def test_a_search_that_stops_early_says_so_and_goes_on_from_there(member_client, queues, monkeypatch):
    monkeypatch.setattr(search, "SCAN_STEP", 10)
    monkeypatch.setattr(search, "MAX_STEPS", 2)
    queues.enqueue_batch("acme", [NewTask("x", {"i": i}) for i in range(200)])
    wanted = kill(queues, command="y", error="the needle")
    client = member_client("viewer")

    found, pages = set(), 0
    r = client.get("/dashboard/t/acme/tasks/", {"error": "needle"})
    while True:
        pages += 1
        found |= ids_on(r)
        more = re.search(r'<a href="\?([^"]+)" rel="next">More', r.content.decode())
        if not more:
            break
        assert "This search stopped early" in r.content.decode()
        r = client.get(f"/dashboard/t/acme/tasks/?{more.group(1).replace('&amp;', '&')}")
    assert found == {wanted.id}
    assert pages > 1
    assert "every task searched" in r.content.decode()


def test_bad_criteria_get_a_clear_400_on_the_search_page(member_client, queues):
    client = member_client("viewer")
    for params, message in (({"id": "a/b"}, "A task id holds only"), ({"state": "lost"}, "State is one of"),
                            ({"error": "e", "cursor": "zz"}, "Invalid cursor")):  # fmt: skip
        r = client.get("/dashboard/t/acme/tasks/", params)
        assert r.status_code == 400 and message in r.content.decode()


def test_another_tenants_tasks_are_never_found(member_client, foreign_tenant, queues):
    queues.enqueue("globex", NewTask("x", {}, task_id="secret-1"))
    queues.enqueue("globex", NewTask("x", {}, idempotency_key="k1"))
    client = member_client("admin")

    assert client.get("/dashboard/t/acme/tasks/", {"id": "secret-1"}).status_code == 200
    assert not ids_on(client.get("/dashboard/t/acme/tasks/", {"id": "secret"}))
    assert not ids_on(client.get("/dashboard/t/acme/tasks/", {"key": "k1"}))
