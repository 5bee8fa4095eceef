"""Who sees which tenant's pages: login, membership, roles, staff, the switcher and the landing page."""

from __future__ import annotations

import pytest
from django.test import Client

from dashboard.access import NoAccess, access_for
from tests.factories import MembershipFactory, TenantFactory, UserFactory

TENANT_PAGES = ("", "leases/", "tasks/", "tasks/no-such-task/")


@pytest.mark.parametrize("page", TENANT_PAGES)
def test_anonymous_user_is_sent_to_login(tenant, page):
    r = Client().get(f"/dashboard/t/acme/{page}")

    assert r.status_code == 302
    assert r["Location"] == f"/dashboard/login/?next=/dashboard/t/acme/{page}"


@pytest.mark.parametrize("page", TENANT_PAGES[:3])
def test_member_of_another_tenant_gets_404(member_client, foreign_tenant, page):
    client = member_client("admin")

    r = client.get(f"/dashboard/t/globex/{page}")

    assert r.status_code == 404
    assert "not a member" in r.content.decode()


def test_unknown_and_inactive_tenants_answer_404_like_foreign_ones(member_client, staff_client):
    TenantFactory(slug="dormant", active=False)

    assert member_client("admin").get("/dashboard/t/nope/").status_code == 404
    assert staff_client.get("/dashboard/t/dormant/").status_code == 404


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_sees_the_tenant_pages(member_client, queues, role):
    client = member_client(role)

    for page in TENANT_PAGES[:3]:
        r = client.get(f"/dashboard/t/acme/{page}")
        assert r.status_code == 200, page
        assert f'<strong class="role role-{role}">{role}</strong>' in r.content.decode()


def test_staff_see_every_tenant_as_admin(staff_client, tenant, foreign_tenant, queues):
    r = staff_client.get("/dashboard/t/globex/")

    assert r.status_code == 200
    page = r.content.decode()
    assert 'role-admin">admin<' in page
    assert '<option value="acme"' in page and '<option value="globex" selected' in page


def test_switcher_lists_only_the_users_tenants(member_client, foreign_tenant, queues):
    page = member_client("viewer").get("/dashboard/t/acme/").content.decode()

    assert '<option value="acme" selected' in page
    assert "globex" not in page


def test_roles_rank_viewer_below_operator_below_admin(tenant):
    viewer = MembershipFactory(tenant=tenant, role="viewer").user
    operator = MembershipFactory(tenant=tenant, role="operator").user

    with pytest.raises(NoAccess) as refused:
        access_for(viewer, "acme", "operator")
    assert refused.value.status == 403
    assert access_for(operator, "acme", "operator").role == "operator"
    with pytest.raises(NoAccess) as refused:
        access_for(operator, "acme", "admin")
    assert refused.value.status == 403


def test_home_opens_the_first_tenant_then_the_last_one_used(tenant, queues):
    user = UserFactory(username="bob")
    MembershipFactory(tenant=tenant, user=user)
    MembershipFactory(tenant=TenantFactory(slug="beta"), user=user)
    client = Client()
    client.force_login(user)

    assert client.get("/dashboard/")["Location"] == "/dashboard/t/acme/"
    client.get("/dashboard/t/beta/")
    assert client.get("/dashboard/")["Location"] == "/dashboard/t/beta/"


def test_home_without_tenants_says_how_to_get_one(db):
    client = Client()
    client.force_login(UserFactory(username="newcomer"))

    r = client.get("/dashboard/")

    assert r.status_code == 200
    assert "not a member of any tenant" in r.content.decode()


def test_switch_keeps_the_section(member_client):
    r = member_client("viewer").get("/dashboard/switch/", {"tenant": "globex", "section": "leases"})

    assert r["Location"] == "/dashboard/t/globex/leases/"


@pytest.mark.parametrize(("role", "landing"), [("viewer", ""), ("operator", ""), ("admin", "tokens/")])
def test_switch_lands_on_a_page_the_role_can_use(member_client, role, landing):
    r = member_client(role).get("/dashboard/switch/", {"tenant": "acme", "section": "tokens"})

    assert r["Location"] == f"/dashboard/t/acme/{landing}"


@pytest.mark.parametrize("slug", ["", "not a slug"])
def test_switch_to_no_tenant_goes_home(member_client, slug):
    r = member_client("viewer").get("/dashboard/switch/", {"tenant": slug})

    assert r["Location"] == "/dashboard/"


def test_login_and_logout(tenant, queues):
    user = UserFactory(username="alice")
    user.set_password("correct horse")
    user.save()
    MembershipFactory(tenant=tenant, user=user)
    client = Client()

    wrong = client.post("/dashboard/login/", {"username": "alice", "password": "nope"})
    assert wrong.status_code == 200 and "did not match" in wrong.content.decode()

    right = client.post("/dashboard/login/", {"username": "alice", "password": "correct horse",
                                              "next": "/dashboard/t/acme/leases/"})  # fmt: skip
    assert right["Location"] == "/dashboard/t/acme/leases/"
    assert client.get("/dashboard/t/acme/leases/").status_code == 200

    assert client.post("/dashboard/logout/")["Location"] == "/dashboard/login/"
    assert client.get("/dashboard/t/acme/leases/").status_code == 302


def test_an_unknown_dashboard_address_is_a_page_and_an_unknown_api_route_json(member_client):
    client = member_client("viewer")

    page = client.get("/dashboard/no/such/page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    assert "There is no such page" in page.content.decode()

    api = client.get("/no/such/route")
    assert api.status_code == 404 and api.json()["error"] == "not found"


def test_no_page_can_be_framed_by_another_site(member_client, queues):
    """The DLQ's replay and purge buttons are one click: a framing page must not trick an operator into it."""
    r = member_client("admin").get("/dashboard/t/acme/dlq/")

    assert r.status_code == 200 and r["X-Frame-Options"] == "DENY"


def test_browsing_one_tenant_saves_the_session_only_when_the_tenant_changes(member_client, foreign_tenant, queues):
    """The landing page's memory of the last tenant must not cost a session write on every page view."""
    client = member_client("viewer")
    MembershipFactory(tenant=foreign_tenant, user=client.get("/dashboard/t/acme/").wsgi_request.user)

    assert "sessionid" not in client.get("/dashboard/t/acme/leases/").cookies
    assert "sessionid" in client.get("/dashboard/t/globex/").cookies
    assert client.get("/dashboard/").url == "/dashboard/t/globex/"
