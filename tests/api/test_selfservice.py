import pytest
from rest_framework.test import APIClient

from codeq_platform.webhooks.models import WebhookSubscription
from tenants.models import ApiToken, AuditEntry


def client(token: str) -> APIClient:
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return c


def test_admin_issues_a_token_shown_once_and_it_works(admin_bearer, tenant):
    r = client(admin_bearer).post("/v1/codeq/admin/tokens", {"name": "ci", "role": "producer"}, format="json")
    assert r.status_code == 201
    issued = r.json()
    assert issued["role"] == "producer" and issued["token"]
    listed = client(admin_bearer).get("/v1/codeq/admin/tokens").json()
    assert any(t["name"] == "ci" for t in listed) and all("token" not in t for t in listed)
    assert client(issued["token"]).get("/v1/codeq/tasks/none").status_code == 404
    assert AuditEntry.objects.filter(tenant=tenant, action__startswith="token.").exists()


def test_revoked_token_is_refused(admin_bearer, tenant):
    issued = client(admin_bearer).post("/v1/codeq/admin/tokens", {"name": "x", "role": "worker"}, format="json").json()
    r = client(admin_bearer).delete(f"/v1/codeq/admin/tokens/{issued['id']}")
    assert r.status_code == 200 and r.json()["revokedAt"]
    assert client(issued["token"]).get("/v1/codeq/tasks/none").status_code == 401


def test_another_tenants_token_cannot_be_revoked(admin_bearer, foreign_tenant, foreign_bearer):
    foreign = ApiToken.objects.filter(tenant=foreign_tenant).first()
    r = client(admin_bearer).delete(f"/v1/codeq/admin/tokens/{foreign.pk}")
    assert r.status_code == 404 and r.json()["error"]


@pytest.mark.parametrize("role", ["producer", "worker"])
def test_only_admins_manage_tokens_and_webhooks(role, tenant, request):
    token = request.getfixturevalue(f"{role}_bearer")
    assert client(token).get("/v1/codeq/admin/tokens").status_code == 403
    assert client(token).post("/v1/codeq/admin/webhooks", {}, format="json").status_code == 403


def test_bad_token_request_is_a_400_naming_the_field(admin_bearer):
    r = client(admin_bearer).post("/v1/codeq/admin/tokens", {"name": "x", "role": "root"}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "role"


def test_webhook_subscription_lifecycle_with_secret_shown_once_and_rotation(admin_bearer, tenant):
    c = client(admin_bearer)
    r = c.post(
        "/v1/codeq/admin/webhooks",
        {"url": "https://hooks.example.com/codeq", "events": ["task.completed"]},
        format="json",
    )
    assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
    sub_id = r.json()["id"]
    assert "secret" not in c.get(f"/v1/codeq/admin/webhooks/{sub_id}").json()
    rotated = c.post(f"/v1/codeq/admin/webhooks/{sub_id}/rotate", {"graceSeconds": 600}, format="json").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != r.json()["secret"]
    assert len(WebhookSubscription.objects.get(pk=sub_id).signing_secrets()) == 2
    assert c.delete(f"/v1/codeq/admin/webhooks/{sub_id}").status_code == 204
    assert c.get(f"/v1/codeq/admin/webhooks/{sub_id}").status_code == 404


def test_webhook_with_unknown_event_is_refused(admin_bearer):
    r = client(admin_bearer).post(
        "/v1/codeq/admin/webhooks", {"url": "https://x.example", "events": ["task.eaten"]}, format="json"
    )
    assert r.status_code == 400 and r.json()["field"] == "events"


def test_a_bad_item_of_a_list_field_is_named_in_a_plain_message(admin_bearer):
    r = client(admin_bearer).post(
        "/v1/codeq/admin/webhooks",
        {"url": "https://x.example", "events": ["task.completed"], "commands": ["ok", ""]},
        format="json",
    )

    assert r.status_code == 400 and r.json()["field"] == "commands"
    assert r.json()["error"] == "commands must be a list of commands (1-200 characters, no space or '/')"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_self_service_reads_json_whatever_the_content_type(admin_bearer, tenant, content_type):
    headers = {"CONTENT_TYPE": content_type} if content_type else {}
    body = b'{"name": "ci", "role": "worker"}'
    r = client(admin_bearer).generic("POST", "/v1/codeq/admin/tokens", body, **headers)
    assert r.status_code == 201, r.content
    assert r.json()["role"] == "worker"

    broken = client(admin_bearer).generic("POST", "/v1/codeq/admin/tokens", b"name=ci", **headers)
    assert broken.status_code == 400 and "error" in broken.json()
