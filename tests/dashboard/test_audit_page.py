"""The audit page: every member reads their tenant's trail, filtered by user and action, page by page."""

from __future__ import annotations

from tests.dashboard.forms import login_as
from tests.factories import AuditEntryFactory


def url(tenant) -> str:
    return f"/dashboard/t/{tenant.slug}/audit/"


def test_a_viewer_reads_who_did_what_to_which_tasks(tenant):
    AuditEntryFactory(tenant=tenant, actor="olga", action="dlq.replay", target="resize", task_ids=["t-1", "t-2"])
    text = login_as(tenant, "viewer").get(url(tenant)).content.decode()
    assert "olga" in text and "dlq.replay" in text and "2 tasks" in text and "t-1" in text


def test_filters_by_user_and_action(tenant):
    AuditEntryFactory(tenant=tenant, actor="olga", action="dlq.replay")
    AuditEntryFactory(tenant=tenant, actor="olga", action="dlq.purge")
    AuditEntryFactory(tenant=tenant, actor="ada", action="dlq.replay")
    page = login_as(tenant, "viewer").get(url(tenant), {"actor": "olga", "action": "dlq.replay"})
    entries = list(page.context["page"].object_list)
    assert [(e.actor, e.action) for e in entries] == [("olga", "dlq.replay")]


def test_pages_hold_fifty_entries_newest_first(tenant):
    entries = [AuditEntryFactory(tenant=tenant, target=f"n{i}") for i in range(51)]
    viewer = login_as(tenant, "viewer")
    first = viewer.get(url(tenant)).context["page"]
    second = viewer.get(url(tenant), {"page": "2"}).context["page"]
    assert len(first.object_list) == 50 and first.object_list[0].target == "n50"
    assert [e.pk for e in second.object_list] == [entries[0].pk]


def test_a_page_number_that_is_not_one_shows_a_page_not_an_error(tenant):
    AuditEntryFactory(tenant=tenant, actor="olga")
    viewer = login_as(tenant, "viewer")
    for page in ("oops", "99"):
        response = viewer.get(url(tenant), {"page": page})
        assert response.status_code == 200 and [e.actor for e in response.context["page"].object_list] == ["olga"]


def test_another_tenants_trail_is_not_found_and_not_mixed_in(tenant, foreign_tenant):
    AuditEntryFactory(tenant=foreign_tenant, actor="spy")
    assert login_as(foreign_tenant, "viewer").get(url(tenant)).status_code == 404
    assert "spy" not in login_as(tenant, "viewer").get(url(tenant)).content.decode()
