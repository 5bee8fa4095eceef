"""A command's queue page: tasks by state, per-row and bulk actions by role, confirmations with the exact
count, audit rows; and the queues index the overview links to."""

from __future__ import annotations

import re

from codeq_platform.base import kv
from codeq_platform.engine import NewTask, State
from dashboard import queues as queues_module
from tenants.models import AuditEntry
from tests.dashboard.dead import kill
from tests.dashboard.forms import login_as, submit

CMD = "media.resize"


def url(tenant, state: str = "", command: str = CMD) -> str:
    return f"/dashboard/t/{tenant.slug}/queues/{command}/" + (f"?state={state}" if state else "")


def rows(html: str) -> list[str]:
    """The task ids of the page's table, in order."""
    return re.findall(r'<tr data-task-id="([^"]+)">', html)


def test_ready_tasks_are_listed_highest_priority_first_with_the_counts_of_every_state(tenant, queues):
    kill(tenant, command=CMD)
    low = queues.enqueue("acme", NewTask(CMD, {"n": 1}, priority=1)).task
    high = queues.enqueue("acme", NewTask(CMD, {"n": 2}, priority=8)).task
    queues.enqueue("acme", NewTask(CMD, {"n": 3}, delay_ms=60_000))

    page = login_as(tenant, "viewer").get(url(tenant)).content.decode()

    assert rows(page) == [high.id, low.id]
    assert re.search(r'data-count="ready"[^>]*>2</span>', page)
    assert re.search(r'data-count="delayed"[^>]*>1</span>', page)
    assert re.search(r'data-count="dead"[^>]*>1</span>', page)
    moment = r'<time datetime="[^"]+" title="[-0-9 :]+ UTC" data-moment-ms="\d+">(just now|\d+ s ago)</time>'
    assert re.search(moment, page)


def test_each_state_lists_its_own_tasks(tenant, queues):
    later = queues.enqueue("acme", NewTask(CMD, {}, delay_ms=3_600_000)).task
    held = queues.enqueue("acme", NewTask(CMD, {})).task
    queues.claim("acme", "worker-7", [CMD], lease_ms=120_000)
    done = queues.enqueue("acme", NewTask(CMD, {})).task
    queues.claim("acme", "w", [CMD])
    queues.complete("acme", done.id, "w", {})
    (dead,) = kill(tenant, command=CMD, error="disk full")
    client = login_as(tenant, "viewer")

    delayed = client.get(url(tenant, "delayed")).content.decode()
    in_flight = client.get(url(tenant, "in_flight")).content.decode()
    finished = client.get(url(tenant, "finished")).content.decode()
    dead_page = client.get(url(tenant, "dead")).content.decode()

    assert rows(delayed) == [later.id] and "scheduled" in delayed and ">in 59 m" in delayed
    assert rows(in_flight) == [held.id] and "worker-7" in in_flight and "data-expires-ms=" in in_flight
    assert rows(finished) == [done.id] and "completed" in finished
    assert rows(dead_page) == [dead.id] and "disk full" in dead_page


def test_a_viewer_sees_no_action_and_is_refused_one(tenant, queues):
    task = queues.enqueue("acme", NewTask(CMD, {})).task
    client = login_as(tenant, "viewer")

    page = client.get(url(tenant)).content.decode()
    refused = submit(client, url(tenant), {"state": "ready", "action": "cancel", "one": task.id, "confirmed": "yes"})

    assert "Cancel selected" not in page and "can look at these tasks" in page
    assert refused.status_code == 403
    assert queues.get_task("acme", task.id).state is State.READY
    assert not AuditEntry.objects.filter(tenant=tenant).exists()


def test_an_operator_releases_a_lease_and_the_audit_says_so(tenant, queues):
    task = queues.enqueue("acme", NewTask(CMD, {})).task
    queues.claim("acme", "worker-7", [CMD])
    client = login_as(tenant, "operator", username="olivia")

    r = submit(client, url(tenant), {"state": "in_flight", "action": "release", "one": task.id}, follow=True)

    assert "1 task released back to the ready queue." in r.content.decode()
    assert r.redirect_chain[-1][0] == url(tenant, "in_flight")
    released = queues.get_task("acme", task.id)
    assert released.state is State.READY and released.attempts == 0
    entry = AuditEntry.objects.get(tenant=tenant)
    assert (entry.actor, entry.action, entry.target, entry.task_ids) == ("olivia", "queue.release", CMD, [task.id])
    assert entry.detail["moved"] == 1


def test_run_now_and_retry_now_make_delayed_tasks_ready(tenant, queues):
    scheduled = queues.enqueue("acme", NewTask(CMD, {}, delay_ms=3_600_000)).task
    failing = queues.enqueue("acme", NewTask(CMD, {})).task
    queues.claim("acme", "w", [CMD])
    queues.nack("acme", failing.id, "w", delay_ms=600_000, reason="503")
    client = login_as(tenant, "operator")
    page = client.get(url(tenant, "delayed")).content.decode()
    assert "Retry now" in page and "Run now" in page and "backing off" in page

    r = submit(client, url(tenant), {"state": "delayed", "action": "run_now", "task_ids": [scheduled.id, failing.id]},
               follow=True)  # fmt: skip

    assert "2 tasks made ready now." in r.content.decode()
    assert {t.id for t in queues.ready("acme", CMD).tasks} == {scheduled.id, failing.id}


def test_cancelling_selected_tasks_is_confirmed_with_their_count_first(tenant, queues):
    tasks = [queues.enqueue("acme", NewTask(CMD, {"i": i})).task for i in range(3)]
    client = login_as(tenant, "operator")
    chosen = [tasks[0].id, tasks[2].id]

    confirm = submit(client, url(tenant), {"state": "ready", "action": "cancel", "task_ids": chosen})
    text = confirm.content.decode()
    assert 'data-testid="confirm-count">2</strong>' in text and "never run" in text
    assert queues.get_task("acme", tasks[0].id).state is State.READY

    r = submit(client, url(tenant), {"state": "ready", "action": "cancel", "task_ids": chosen, "confirmed": "yes"},
               follow=True)  # fmt: skip
    assert "2 tasks cancelled." in r.content.decode()
    assert [queues.get_task("acme", t.id).state for t in tasks] == [State.CANCELLED, State.READY, State.CANCELLED]


def test_an_operator_may_not_delete_but_an_admin_may_after_confirming(tenant, queues):
    task = queues.enqueue("acme", NewTask(CMD, {})).task
    operator = login_as(tenant, "operator")
    assert "Delete selected" not in operator.get(url(tenant)).content.decode()
    refused = submit(operator, url(tenant), {"state": "ready", "action": "delete", "one": task.id, "confirmed": "yes"})
    assert refused.status_code == 403

    admin = login_as(tenant, "admin")
    r = submit(admin, url(tenant), {"state": "ready", "action": "delete", "one": task.id, "confirmed": "yes"},
               follow=True)  # fmt: skip

    assert "1 task deleted for good." in r.content.decode()
    assert rows(r.content.decode()) == []
    assert AuditEntry.objects.get(tenant=tenant, action="queue.delete").task_ids == [task.id]


def test_acting_on_all_matching_confirms_the_exact_count_and_moves_those_only(tenant, queues):
    for i in range(3):
        queues.enqueue("acme", NewTask(CMD, {"i": i}, delay_ms=600_000))
    queues.enqueue("acme", NewTask("other.cmd", {}, delay_ms=600_000))
    client = login_as(tenant, "operator")

    confirm = submit(client, url(tenant), {"state": "delayed", "action": "run_now", "scope": "matching"})
    text = confirm.content.decode()
    assert 'data-testid="confirm-count">3</strong>' in text
    token = re.search(r'name="token" value="([^"]+)"', text).group(1)
    queues.enqueue("acme", NewTask(CMD, {"late": True}, delay_ms=600_000))  # after the confirmation: not moved

    r = submit(client, url(tenant), {"state": "delayed", "action": "run_now", "scope": "matching", "token": token,
                                     "confirmed": "yes"}, follow=True)  # fmt: skip

    assert "3 tasks made ready now." in r.content.decode()
    assert queues.queue_stats("acme", CMD).delayed == 1 and queues.queue_stats("acme", "other.cmd").delayed == 1
    assert AuditEntry.objects.get(tenant=tenant).detail["all_matching"] is True


def test_a_confirmation_token_for_another_action_is_refused(tenant, queues):
    queues.enqueue("acme", NewTask(CMD, {}, delay_ms=600_000))
    client = login_as(tenant, "operator")
    confirm = submit(client, url(tenant), {"state": "delayed", "action": "run_now", "scope": "matching"})
    token = re.search(r'name="token" value="([^"]+)"', confirm.content.decode()).group(1)

    r = submit(client, url(tenant), {"state": "delayed", "action": "cancel", "scope": "matching", "token": token,
                                     "confirmed": "yes"})  # fmt: skip

    assert r.status_code == 400 and "not valid" in r.content.decode()
    assert queues.queue_stats("acme", CMD).delayed == 1


def test_an_action_the_state_does_not_offer_is_a_clear_400(tenant, queues):
    task = queues.enqueue("acme", NewTask(CMD, {})).task
    client = login_as(tenant, "admin")

    wrong_action = submit(client, url(tenant), {"state": "ready", "action": "release", "one": task.id})
    wrong_state = client.get(url(tenant, "sleeping"))
    no_selection = submit(client, url(tenant), {"state": "ready", "action": "cancel"})

    assert wrong_action.status_code == 400 and "cannot be given that action" in wrong_action.content.decode()
    assert wrong_state.status_code == 400 and "state must be one of" in wrong_state.content.decode()
    assert no_selection.status_code == 400 and "select at least one task" in no_selection.content.decode()


def test_a_task_of_another_command_is_left_alone(tenant, queues):
    other = queues.enqueue("acme", NewTask("other.cmd", {})).task
    client = login_as(tenant, "operator")

    r = submit(client, url(tenant), {"state": "ready", "action": "cancel", "one": other.id, "confirmed": "yes"},
               follow=True)  # fmt: skip

    assert "Nothing changed" in r.content.decode()
    assert queues.get_task("acme", other.id).state is State.READY


def test_pages_follow_the_engines_cursor(tenant, queues):
    kv.sync_engine().enqueue_batch("acme", [NewTask(CMD, {"i": i}) for i in range(60)])
    client = login_as(tenant, "viewer")

    first = client.get(url(tenant)).content.decode()
    next_link = re.search(r'href="\?(state=ready&amp;cursor=[^"]+)" rel="next"', first).group(1)
    second = client.get(url(tenant, "").split("?")[0] + "?" + next_link.replace("&amp;", "&")).content.decode()

    assert len(rows(first)) == 50 and len(rows(second)) == 10
    assert not set(rows(first)) & set(rows(second))


def test_the_index_and_the_overview_link_each_command_to_its_queue(tenant, queues):
    queues.enqueue("acme", NewTask(CMD, {}))
    client = login_as(tenant, "viewer")

    index = client.get("/dashboard/t/acme/queues/").content.decode()
    overview = client.get("/dashboard/t/acme/").content.decode()

    assert f'href="/dashboard/t/acme/queues/{CMD}/"' in index
    assert f'href="/dashboard/t/acme/queues/{CMD}/"' in overview


def test_another_tenants_queue_is_not_found(tenant, foreign_tenant, queues):
    queues.enqueue("globex", NewTask("secret.work", {}))

    r = login_as(tenant, "admin").get(url(foreign_tenant, command="secret.work"))

    assert r.status_code == 404


def test_a_page_crowded_out_by_other_commands_says_so_and_reads_on(tenant, queues, monkeypatch):
    monkeypatch.setattr(queues_module, "SHARED_READS", 1)
    queues.enqueue_batch("acme", [NewTask("other.cmd", {"i": i}, delay_ms=60_000) for i in range(120)])
    mine = queues.enqueue("acme", NewTask(CMD, {}, delay_ms=600_000)).task
    client = login_as(tenant, "viewer")

    first = client.get(url(tenant, "delayed")).content.decode()
    assert rows(first) == [] and "other commands' tasks share this list" in first
    for _ in range(5):
        if rows(first):
            break
        link = re.search(r'href="\?(state=delayed&amp;cursor=[^"]+)">Read on', first).group(1)
        first = client.get(url(tenant) + "?" + link.replace("&amp;", "&")).content.decode()

    assert rows(first) == [mine.id]


def test_all_matching_takes_at_most_a_batch_and_says_there_are_more(tenant, queues, monkeypatch):
    monkeypatch.setattr(queues_module, "MAX_ACTION", 2)
    queues.enqueue_batch("acme", [NewTask(CMD, {"i": i}) for i in range(3)])
    client = login_as(tenant, "operator")

    confirm = submit(client, url(tenant), {"state": "ready", "action": "cancel", "scope": "matching"})

    text = confirm.content.decode()
    assert 'data-testid="confirm-count">2</strong>' in text and "There are more" in text
