"""The staff console in Debian's Chromium: live figures, a tenant created, suspended as the API sees it, deleted."""

from __future__ import annotations

import time

import codeq
import httpx
import pytest

from tenants import bearer
from tests.browser.platform import CHROMIUM, PASSWORD, SCREENSHOTS, browser_page, log_in, mailed_link
from tests.factories import ApiTokenFactory, TenantFactory, UserFactory

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def staff(tenant) -> str:
    user = UserFactory(username="sam", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user.username


def create_status(server: str, token: str) -> tuple[int, dict]:
    response = httpx.post(f"{server}/v1/codeq/tasks", json={"command": "resize", "payload": 1},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    return response.status_code, response.json()


def wait_for_status(server: str, token: str, status: int) -> dict:
    """The create call's answer once it has ``status`` (token grants are cached for a few seconds)."""
    deadline = time.monotonic() + 20
    while True:
        got, body = create_status(server, token)
        if got == status:
            return body
        assert time.monotonic() < deadline, (got, body)
        time.sleep(0.2)


def test_staff_see_figures_create_suspend_and_delete_tenants(server, staff, tenant, producer_bearer, mail_dir):
    neighbour = TenantFactory(slug="globex")
    neighbour_bearer = bearer.mint(ApiTokenFactory(tenant=neighbour, role="producer"))
    with codeq.Client(server, producer_bearer) as acme, codeq.Client(server, neighbour_bearer) as globex:
        kept = [acme.create("resize", {"n": n}).id for n in range(3)]
        for n in range(2):
            globex.create("resize", {"n": n})

    with browser_page(server) as page:
        log_in(page, staff)
        page.get_by_role("link", name="Staff: tenants").click()
        table = page.get_by_test_id("tenants")
        acme_row = table.locator("tr", has=page.get_by_role("link", name="acme", exact=True))
        assert acme_row.locator("td").nth(2).inner_text() == "3"
        assert acme_row.locator("td").nth(1).inner_text() == "active"
        page.screenshot(path=SCREENSHOTS / "staff-tenants.png", full_page=True)

        page.get_by_role("link", name="Created today").click()
        page.get_by_role("link", name="Created today ▲").click()
        assert page.get_by_test_id("tenants").locator("tbody tr code").first.inner_text() == "acme"
        page.get_by_label("Search").fill("glob")
        page.get_by_role("button", name="Search").click()
        assert page.get_by_test_id("tenants").locator("tbody tr").count() == 1

        page.get_by_role("link", name="New tenant").click()
        page.get_by_label("Slug", exact=True).fill("initech")
        page.get_by_label("Name", exact=True).fill("Initech")
        page.get_by_label("Monthly task quota").fill("1000")
        page.get_by_label("… or invite by email").fill("bill@example.com")
        page.get_by_role("button", name="Create tenant").click()
        page.wait_for_url("**/staff/tenants/initech/")
        assert "Tenant initech created; bill@example.com is invited to be its admin." in page.inner_text("main")
        assert "/dashboard/invitations/" in mailed_link(mail_dir, "bill@example.com")

        page.goto("/dashboard/staff/tenants/acme/")
        page.get_by_role("button", name="Suspend").click()
        assert "acme is suspended" in page.inner_text("main")
        page.screenshot(path=SCREENSHOTS / "staff-tenant-suspended.png", full_page=True)
        assert wait_for_status(server, producer_bearer, 403) == {"error": "tenant suspended",
                                                                 "code": "tenant_suspended"}  # fmt: skip
        page.get_by_role("button", name="Reactivate").click()
        wait_for_status(server, producer_bearer, 202)

        page.goto("/dashboard/staff/tenants/globex/")
        page.get_by_label("Type the tenant's slug to confirm").fill("globe")
        page.get_by_role("button", name="Delete tenant").click()
        assert "Type the tenant's slug exactly" in page.inner_text("main")
        page.get_by_label("Type the tenant's slug to confirm").fill("globex")
        page.get_by_role("button", name="Delete tenant").click()
        page.screenshot(path=SCREENSHOTS / "staff-tenant-deleting.png", full_page=True)
        page.get_by_role("heading", name="Deleted", exact=True).wait_for(timeout=30_000)
        assert int(page.get_by_test_id("keys-deleted").inner_text()) > 0
        page.screenshot(path=SCREENSHOTS / "staff-tenant-deleted.png", full_page=True)

    with codeq.Client(server, producer_bearer) as acme:
        assert [acme.get(task_id).id for task_id in kept] == kept
