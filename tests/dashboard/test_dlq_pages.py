"""The DLQ pages: who sees what, who may do what, confirmations, CSRF, audit rows and the messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from codeq_platform.base import kv
from codeq_platform.engine import NewTask
from tenants.models import AuditEntry
from tests.dashboard.dead import dlq_ids, kill
from tests.dashboard.forms import login_as, submit

CMD = "media.resize"


def url(tenant, command: str | None = CMD) -> str:
    return f"/dashboard/t/{tenant.slug}/dlq/" + (f"{command}/" if command else "")


def test_the_index_lists_commands_with_their_dead_counts(tenant):
    kill(tenant, n=2)
    kill(tenant, command="mail.send", n=1)
    page = login_as(tenant, "viewer").get(url(tenant, None))
    assert page.status_code == 200
    text = page.content.decode()
    assert "media.resize" in text and "mail.send" in text and "3 dead tasks" in text


def test_the_index_shows_a_page_of_commands_at_a_time(tenant):
    names = [f"job.{i:03}" for i in range(100)]
    kv.sync_engine().enqueue_batch(tenant.slug, [NewTask(name, {}) for name in names])
    kill(tenant, command="job.100", n=2)
    client = login_as(tenant, "viewer")
    first = client.get(url(tenant, None)).content.decode()
    assert "job.099" in first and "job.100" not in first
    assert "Commands 1 to 100 of 101" in first and 'href="?page=2"' in first
    last = client.get(url(tenant, None) + "?page=2").content.decode()
    assert "job.100" in last and "job.099" not in last and "2 dead tasks on this page" in last


def test_a_viewer_sees_dead_tasks_but_no_action(tenant):
    (task,) = kill(tenant, error="upstream timeout")
    page = login_as(tenant, "viewer").get(url(tenant))
    text = page.content.decode()
    assert page.status_code == 200
    assert task.id in text and "upstream timeout" in text and "1/1" in text and "&quot;i&quot;:0" in text
    assert "Replay selected" not in text and "Purge DLQ" not in text


def test_an_operator_sees_replay_but_not_delete(tenant):
    kill(tenant)
    text = login_as(tenant, "operator").get(url(tenant)).content.decode()
    assert "Replay selected" in text and "Delete selected" not in text and "Purge DLQ" not in text


def test_a_foreign_tenant_is_not_found(tenant, foreign_tenant):
    kill(tenant)
    outsider = login_as(foreign_tenant, "admin")
    assert outsider.get(url(tenant)).status_code == 404
    assert outsider.get(url(tenant, None)).status_code == 404


def test_a_foreign_admin_cannot_replay_here(tenant, foreign_tenant):
    (task,) = kill(tenant)
    outsider = login_as(foreign_tenant, "admin")
    outsider.get(f"/dashboard/t/{foreign_tenant.slug}/dlq/")
    assert submit(outsider, url(tenant), {"replay_one": task.id}).status_code == 404
    assert dlq_ids(tenant) == {task.id}


def test_anonymous_users_go_to_the_login_page(tenant):
    response = Client().get(url(tenant))
    assert response.status_code == 302 and "/dashboard/login/" in response["Location"]


ACTIONS = {
    "replay_one": ("operator", lambda ids: {"replay_one": ids[0]}),
    "replay_selected": ("operator", lambda ids: {"action": "replay_selected", "task_ids": ids}),
    "replay_matching": ("operator", lambda ids: {"action": "replay_matching"}),
    "delete_selected": ("admin", lambda ids: {"action": "delete_selected", "task_ids": ids}),
    "purge": ("admin", lambda ids: {"action": "purge"}),
}
RANK = {"viewer": 0, "operator": 1, "admin": 2}


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_needs_its_role(tenant, role, action):
    needed, data = ACTIONS[action]
    dead = kill(tenant, n=2)
    response = submit(login_as(tenant, role), url(tenant), data([t.id for t in dead]))
    if RANK[role] < RANK[needed]:
        assert response.status_code == 403
        assert len(dlq_ids(tenant)) == 2
        assert not AuditEntry.objects.filter(tenant=tenant).exists()
    else:
        assert response.status_code in (200, 302)


def test_a_post_without_the_csrf_token_is_refused(tenant):
    (task,) = kill(tenant)
    response = login_as(tenant, "admin").post(url(tenant), {"replay_one": task.id})
    assert response.status_code == 403
    assert dlq_ids(tenant) == {task.id}


def test_replay_one_moves_the_task_says_so_and_audits_it(tenant):
    dead = kill(tenant, n=2)
    page = submit(login_as(tenant, "operator", username="olga"), url(tenant), {"replay_one": dead[0].id}, follow=True)
    assert "Replayed 1 task to the ready queue." in page.content.decode()
    assert dlq_ids(tenant) == {dead[1].id}
    claimed = kv.sync_engine().claim(tenant.slug, "w2", [CMD])
    assert [t.id for t in claimed] == [dead[0].id]
    entry = AuditEntry.objects.get(tenant=tenant)
    assert (entry.actor, entry.action, entry.task_ids) == ("olga", "dlq.replay", [dead[0].id])


def test_replay_selected_counts_what_had_already_left(tenant):
    dead = kill(tenant, n=3)
    kv.sync_engine().replay(tenant.slug, dead[0].id)
    data = {"action": "replay_selected", "task_ids": [t.id for t in dead[:2]]}
    text = submit(login_as(tenant, "operator"), url(tenant), data, follow=True).content.decode()
    assert "Replayed 1 task to the ready queue. 1 task had already left the DLQ." in text
    assert dlq_ids(tenant) == {dead[2].id}


def test_replay_matching_confirms_the_count_before_anything_moves(tenant):
    timeouts = kill(tenant, n=3, error="timeout")
    others = kill(tenant, n=2, error="bad input")
    operator = login_as(tenant, "operator")
    confirm = submit(operator, url(tenant), {"action": "replay_matching", "error": "TIMEOUT"})
    assert confirm.status_code == 200
    assert "Replay 3 dead tasks" in confirm.content.decode()
    assert len(dlq_ids(tenant)) == 5
    token = confirm.context["selection"].token
    done = submit(operator, url(tenant), {"action": "replay_matching", "error": "TIMEOUT", "confirmed": "yes",
                                          "token": token}, follow=True)  # fmt: skip
    assert done.redirect_chain[-1][0].endswith("?error=TIMEOUT")
    assert "Replayed 3 tasks to the ready queue." in done.content.decode()
    assert dlq_ids(tenant) == {t.id for t in others}
    entry = AuditEntry.objects.get(tenant=tenant, action="dlq.replay_matching")
    assert set(entry.task_ids) == {t.id for t in timeouts}


def test_replay_matching_moves_no_task_that_died_after_the_confirmation(tenant):
    kill(tenant, n=2)
    operator = login_as(tenant, "operator")
    token = submit(operator, url(tenant), {"action": "replay_matching"}).context["selection"].token
    (late,) = kill(tenant)
    text = submit(operator, url(tenant), {"action": "replay_matching", "confirmed": "yes", "token": token},
                  follow=True).content.decode()  # fmt: skip
    assert "Replayed 2 tasks" in text
    assert dlq_ids(tenant) == {late.id}


def test_a_forged_confirmation_token_is_a_bad_request(tenant):
    kill(tenant)
    data = {"action": "replay_matching", "confirmed": "yes", "token": "forged"}
    response = submit(login_as(tenant, "operator"), url(tenant), data)
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_delete_selected_asks_first_then_deletes(tenant):
    dead = kill(tenant, n=3)
    admin = login_as(tenant, "admin", username="ada")
    ids = [dead[0].id, dead[1].id]
    confirm = submit(admin, url(tenant), {"action": "delete_selected", "task_ids": ids})
    assert confirm.status_code == 200 and "Delete 2 dead tasks" in confirm.content.decode()
    assert len(dlq_ids(tenant)) == 3
    done = submit(admin, url(tenant), {"action": "delete_selected", "task_ids": ids, "confirmed": "yes"}, follow=True)
    assert "Deleted 2 tasks for good." in done.content.decode()
    assert dlq_ids(tenant) == {dead[2].id}
    entry = AuditEntry.objects.get(tenant=tenant, action="dlq.delete")
    assert entry.actor == "ada" and set(entry.task_ids) == set(ids)


def test_purge_shows_the_count_then_empties_the_dlq(tenant):
    kill(tenant, n=3)
    admin = login_as(tenant, "admin")
    confirm = submit(admin, url(tenant), {"action": "purge"})
    assert confirm.status_code == 200 and confirm.context["up_to"] == 3
    assert len(dlq_ids(tenant)) == 3
    done = submit(admin, url(tenant), {"action": "purge", "up_to": "3", "confirmed": "yes"}, follow=True)
    assert "Purged 3 tasks from the DLQ." in done.content.decode()
    assert dlq_ids(tenant) == set()
    assert AuditEntry.objects.get(tenant=tenant, action="dlq.purge").detail == {"deleted": 3}


def test_the_error_filter_and_window_narrow_the_page(tenant):
    kill(tenant, error="old timeout")
    (recent,) = kill(tenant, error="new timeout")
    kill(tenant, error="unrelated")
    viewer = login_as(tenant, "viewer")
    since = datetime.fromtimestamp(recent.finished_ms / 1000, UTC)
    page = viewer.get(url(tenant), {"error": "timeout", "since": since.strftime("%Y-%m-%dT%H:%M:%S.%f")})
    assert [row["task"].id for row in page.context["rows"]] == [recent.id]
    assert "examined 2 of the 2 in the window" in page.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "&#x27;since&#x27; must be a date and time"),
        ({"until": "2026-13-01T00:00"}, "&#x27;until&#x27; must be a date and time"),
        ({"since": "2026-05-02T00:00", "until": "2026-05-01T00:00"}, "the window&#x27;s start is after its end"),
        ({"cursor": "nope"}, "invalid cursor"),
    ],
)
def test_bad_filter_input_is_a_clear_400(tenant, query, message):
    response = login_as(tenant, "viewer").get(url(tenant), query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_an_unknown_action_is_a_400(tenant):
    response = submit(login_as(tenant, "admin"), url(tenant), {"action": "explode"})
    assert response.status_code == 400
    assert "unknown action" in response.content.decode()


def test_an_invalid_command_is_a_400(tenant):
    assert login_as(tenant, "viewer").get(f"/dashboard/t/{tenant.slug}/dlq/has%20space/").status_code == 400


def test_a_malformed_task_id_is_a_400_not_an_error(tenant):
    (task,) = kill(tenant)
    response = submit(login_as(tenant, "operator"), url(tenant), {"replay_one": "not an id/../x"})
    assert response.status_code == 400
    assert dlq_ids(tenant) == {task.id}


def test_an_unreachable_store_answers_503_and_changes_nothing(tenant, settings):
    (task,) = kill(tenant)
    operator = login_as(tenant, "operator")
    operator.get(url(tenant))
    real_url = settings.CODEQ_KV_URL
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    assert operator.get(url(tenant)).status_code == 503
    assert operator.get(url(tenant, None)).status_code == 503
    response = submit(operator, url(tenant), {"replay_one": task.id})
    assert response.status_code == 503 and "nothing was changed" in response.content.decode()
    settings.CODEQ_KV_URL = real_url
    kv.reset()
    assert dlq_ids(tenant) == {task.id}
    assert not AuditEntry.objects.exists()


def test_an_error_filter_alone_counts_against_the_whole_dlq(tenant):
    kill(tenant, n=2, error="timeout")
    page = login_as(tenant, "viewer").get(url(tenant), {"error": "timeout"})
    text = page.content.decode()
    assert "examined 2 of the 2 in the DLQ" in text
    assert "in the time window" not in text
