"""The DLQ's filtered reads and bulk actions under the dashboard: bounded, audited, exact."""

from __future__ import annotations

import pytest

from codeq_platform.base import kv
from codeq_platform.engine import State
from codeq_platform.errors import InvalidInput
from dashboard import dlq
from tenants.models import AuditEntry
from tests.dashboard.dead import dlq_ids, kill

CMD = "media.resize"


def test_dead_tasks_come_newest_first_page_by_page(tenant):
    dead = kill(tenant, n=5)
    first = dlq.dead_tasks(tenant=tenant, command=CMD, dlq_filter=dlq.DlqFilter(), page_size=2)
    second = dlq.dead_tasks(tenant=tenant, command=CMD, dlq_filter=dlq.DlqFilter(), cursor=first.cursor, page_size=2)
    third = dlq.dead_tasks(tenant=tenant, command=CMD, dlq_filter=dlq.DlqFilter(), cursor=second.cursor, page_size=2)
    assert [t.id for t in first.tasks + second.tasks + third.tasks] == [t.id for t in reversed(dead)]
    assert third.cursor is None and first.in_window == 5


def test_error_filter_matches_case_insensitively(tenant):
    timeouts = kill(tenant, n=2, error="upstream Timeout after 30s")
    kill(tenant, n=2, error="bad image")
    page = dlq.dead_tasks(tenant=tenant, command=CMD, dlq_filter=dlq.DlqFilter(text="timeout"))
    assert {t.id for t in page.tasks} == {t.id for t in timeouts}
    assert page.examined == 4 and not page.budget_spent


def test_the_page_counts_every_match_the_replay_would_select(tenant):
    kill(tenant, n=3, error="disk full")
    kill(tenant, n=2, error="other")
    dlq_filter = dlq.DlqFilter(text="disk")
    page = dlq.dead_tasks(tenant=tenant, command=CMD, dlq_filter=dlq_filter, page_size=1)
    selection = dlq.select_matching(tenant=tenant, command=CMD, dlq_filter=dlq_filter, actor="alice")
    assert (len(page.tasks), page.matching, page.examined) == (1, 3, 5)
    assert len(selection.task_ids) == page.matching
    later = dlq.dead_tasks(tenant=tenant, command=CMD, dlq_filter=dlq_filter, cursor=page.cursor, page_size=1)
    assert (len(later.tasks), later.matching) == (1, 3)


def test_error_filter_stops_at_its_budget_and_continues_from_the_cursor(tenant, monkeypatch):
    monkeypatch.setattr(dlq, "MATCH_BUDGET", 3)
    (old_match,) = kill(tenant, error="disk full")
    kill(tenant, n=4, error="other")
    dlq_filter = dlq.DlqFilter(text="disk")
    first = dlq.dead_tasks(tenant=tenant, command=CMD, dlq_filter=dlq_filter)
    assert (first.tasks, first.examined, first.budget_spent, first.matching) == ([], 3, True, 0)
    second = dlq.dead_tasks(tenant=tenant, command=CMD, dlq_filter=dlq_filter, cursor=first.cursor)
    assert [t.id for t in second.tasks] == [old_match.id]
    assert second.cursor is None


def test_time_window_narrows_by_time_of_death(tenant):
    dead = kill(tenant, n=4)
    window = dlq.DlqFilter(since_ms=dead[1].finished_ms, until_ms=dead[2].finished_ms)
    page = dlq.dead_tasks(tenant=tenant, command=CMD, dlq_filter=window)
    assert [t.id for t in page.tasks] == [dead[2].id, dead[1].id]
    assert page.in_window == 2


def test_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(InvalidInput):
        dlq.DlqFilter(since_ms=2000, until_ms=1000)


def test_selecting_matches_is_capped_per_action(tenant, monkeypatch):
    monkeypatch.setattr(dlq, "MAX_ACTION", 2)
    dead = kill(tenant, n=3)
    selection = dlq.select_matching(tenant=tenant, command=CMD, dlq_filter=dlq.DlqFilter(), actor="alice")
    assert selection.task_ids == [dead[2].id, dead[1].id]
    assert selection.capped and selection.in_window == 3


def test_a_selection_token_only_works_for_its_user_and_command(tenant):
    kill(tenant, n=2)
    selection = dlq.select_matching(tenant=tenant, command=CMD, dlq_filter=dlq.DlqFilter(), actor="alice")
    ids = dlq.unsign_selection(tenant=tenant, command=CMD, actor="alice", token=selection.token)
    assert ids == selection.task_ids
    with pytest.raises(InvalidInput):
        dlq.unsign_selection(tenant=tenant, command=CMD, actor="mallory", token=selection.token)
    with pytest.raises(InvalidInput):
        dlq.unsign_selection(tenant=tenant, command="other", actor="alice", token=selection.token)


def test_replay_moves_only_tasks_still_dead_and_audits_them(tenant):
    dead = kill(tenant, n=2)
    kv.sync_engine().replay(tenant.slug, dead[0].id)
    moved = dlq.replay_dead_tasks(tenant=tenant, command=CMD, task_ids=[t.id for t in dead], actor="alice")
    assert moved == 1
    entry = AuditEntry.objects.get(tenant=tenant, action="dlq.replay")
    assert entry.actor == "alice" and entry.task_ids == [t.id for t in dead]
    assert entry.detail == {"requested": 2, "moved": 1}


def test_delete_leaves_a_task_replayed_since_it_was_selected(tenant):
    dead = kill(tenant, n=2)
    kv.sync_engine().replay(tenant.slug, dead[0].id)
    deleted = dlq.delete_dead_tasks(tenant=tenant, command=CMD, task_ids=[t.id for t in dead], actor="alice")
    assert deleted == 1
    assert kv.sync_engine().get_task(tenant.slug, dead[0].id).state is State.READY
    assert AuditEntry.objects.get(tenant=tenant, action="dlq.delete").task_ids == [dead[1].id]


def test_purge_deletes_at_most_the_confirmed_count_oldest_first(tenant):
    dead = kill(tenant, n=3)
    deleted, remaining = dlq.purge_dead_tasks(tenant=tenant, command=CMD, up_to=2, actor="alice")
    assert (deleted, remaining) == (2, 1)
    assert dlq_ids(tenant) == {dead[2].id}
    assert AuditEntry.objects.get(tenant=tenant, action="dlq.purge").detail == {"deleted": 2}


def test_an_empty_selection_is_refused(tenant):
    with pytest.raises(InvalidInput):
        dlq.replay_dead_tasks(tenant=tenant, command=CMD, task_ids=[], actor="alice")
