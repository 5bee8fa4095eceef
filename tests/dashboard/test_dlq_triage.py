"""The DLQ's triage: dead tasks grouped by error with counts that filter the page, and an admin's
edit of a dead task's payload before replaying it (validated, size-limited, audited with digests)."""

from __future__ import annotations

import hashlib
import re

from codeq_platform.base import kv
from dashboard import dlq
from tenants.models import AuditEntry
from tests.dashboard.dead import dlq_ids, kill
from tests.dashboard.forms import login_as, submit

CMD = "media.resize"


def url(tenant, *rest: str) -> str:
    return f"/dashboard/t/{tenant.slug}/dlq/{CMD}/" + "".join(f"{part}/" for part in rest)


def groups_on(page: str) -> list[tuple[str, int]]:
    rows = re.findall(r'<span class="group-text[^"]*">([^<]*)</span>.*?data-testid="group-count">([\d,]+)<', page, re.S)
    return [(text, int(count.replace(",", ""))) for text, count in rows]


def test_dead_tasks_are_grouped_by_error_commonest_first(tenant):
    kill(tenant, n=3, error="upstream timeout\n  at fetch()")
    kill(tenant, n=1, error="disk full")
    page = login_as(tenant, "viewer").get(url(tenant)).content.decode()
    assert groups_on(page) == [("upstream timeout", 3), ("disk full", 1)]
    assert "among the 4 newest of the 4 dead tasks" in page


def test_clicking_a_group_filters_the_page_by_its_error(tenant):
    timeouts = kill(tenant, n=2, error="upstream timeout")
    kill(tenant, n=1, error="disk full")
    client = login_as(tenant, "viewer")
    page = client.get(url(tenant)).content.decode()
    link = re.search(r'<a href="\?([^"]+)" title="Show only dead tasks with this error"><span class="group-text">'
                     r"upstream timeout<", page).group(1)  # fmt: skip
    filtered = client.get(url(tenant) + "?" + link.replace("&amp;", "&")).content.decode()
    assert set(re.findall(r'<tr data-task-id="([^"]+)">', filtered)) == {t.id for t in timeouts}
    assert 'class="active"' in filtered


def test_groups_count_only_the_newest_dead_tasks_and_say_so(tenant, monkeypatch):
    monkeypatch.setattr(dlq, "GROUP_BUDGET", 3)
    kill(tenant, n=2, error="old error")
    kill(tenant, n=3, error="new error")
    page = login_as(tenant, "viewer").get(url(tenant)).content.decode()
    assert groups_on(page) == [("new error", 3)]
    assert "among the 3 newest of the 5 dead tasks" in page


def test_an_admin_replays_a_task_with_an_edited_payload_and_the_audit_has_both_digests(tenant):
    (task,) = kill(tenant)
    client = login_as(tenant, "admin", username="ada")
    form = client.get(url(tenant, task.id, "edit")).content.decode()
    assert "&quot;i&quot;: 0" in form

    r = submit(client, url(tenant, task.id, "edit"), {"payload": '{"i": 0, "fixed": true}'}, follow=True)

    assert "Replayed task" in r.content.decode()
    assert task.id not in dlq_ids(tenant)
    claimed = kv.sync_engine().claim(tenant.slug, "w", [CMD])[0]
    assert (claimed.id, claimed.payload) == (task.id, '{"i":0,"fixed":true}')
    entry = AuditEntry.objects.get(tenant=tenant, action="dlq.replay_edited")
    assert entry.actor == "ada" and entry.task_ids == [task.id] and entry.target == CMD
    assert entry.detail == {"before": "sha256:" + hashlib.sha256(b'{"i":0}').hexdigest(),
                            "after": "sha256:" + hashlib.sha256(b'{"i":0,"fixed":true}').hexdigest()}  # fmt: skip


def test_invalid_json_or_a_payload_over_the_limit_is_a_form_error_and_changes_nothing(tenant):
    tenant.max_payload_bytes = 100
    tenant.save()
    (task,) = kill(tenant)
    client = login_as(tenant, "admin")

    broken = submit(client, url(tenant, task.id, "edit"), {"payload": '{"i": 0,'})
    huge = submit(client, url(tenant, task.id, "edit"), {"payload": '{"blob": "' + "x" * 200 + '"}'})
    null = submit(client, url(tenant, task.id, "edit"), {"payload": "null"})

    assert broken.status_code == 400 and "The payload is not valid JSON" in broken.content.decode()
    assert "{&quot;i&quot;: 0,</textarea>" in broken.content.decode()
    assert huge.status_code == 413 and "Payload exceeds 100 bytes" in huge.content.decode()
    assert null.status_code == 400 and "cannot be null" in null.content.decode()
    assert task.id in dlq_ids(tenant)
    assert not AuditEntry.objects.filter(tenant=tenant).exists()


def test_only_admins_may_edit_a_payload(tenant):
    (task,) = kill(tenant)
    for role in ("viewer", "operator"):
        client = login_as(tenant, role)
        assert client.get(url(tenant, task.id, "edit")).status_code == 403
        assert submit(client, url(tenant, task.id, "edit"), {"payload": "{}"}).status_code == 403
        assert "Edit &amp; replay" not in client.get(url(tenant)).content.decode()
    assert "Edit &amp; replay" in login_as(tenant, "admin").get(url(tenant)).content.decode()
    assert task.id in dlq_ids(tenant)


def test_editing_a_task_that_is_not_dead_here_is_not_found_or_refused(tenant, foreign_tenant):
    (task,) = kill(tenant)
    (foreign,) = kill(foreign_tenant)
    client = login_as(tenant, "admin")
    assert client.get(url(tenant, foreign.id, "edit")).status_code == 404
    assert client.get(f"/dashboard/t/{tenant.slug}/dlq/other.cmd/{task.id}/edit/").status_code == 404
    kv.sync_engine().replay(tenant.slug, task.id)
    r = submit(client, url(tenant, task.id, "edit"), {"payload": "{}"}, follow=True)
    assert "no longer in the DLQ" in r.content.decode()
    assert kv.sync_engine().get_task(tenant.slug, task.id).payload == '{"i":0}'
