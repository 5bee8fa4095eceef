"""The admin CLI: codeq_tenant, codeq_token and codeq_member, their output, effect and error messages."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tenants import selectors
from tenants.models import ApiToken, Membership, Tenant
from tests.factories import ApiTokenFactory, MembershipFactory, TenantFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.auth_urls")]


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_tenant_create_creates_and_says_so():
    out, _ = run("codeq_tenant", "create", "acme", "--name", "Acme Corp", "--shards", "4")

    assert out.strip() == "Created tenant acme (Acme Corp, 4 shard(s))."
    assert Tenant.objects.filter(slug="acme", name="Acme Corp", shards=4).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Bad_Slug",), "slug: A slug is 1-63 characters"),
        (("acme", "--shards", "65"), "shards: "),
        (("taken",), "slug: Tenant with this Slug already exists."),
    ],
)
def test_tenant_create_explains_bad_input(args, message):
    TenantFactory(slug="taken")

    with pytest.raises(CommandError, match=re.escape(message)):
        run("codeq_tenant", "create", *args)


def test_tenant_list_shows_every_tenant():
    TenantFactory(slug="globex", name="Globex", active=False)
    TenantFactory(slug="acme", name="Acme", shards=2)

    out, _ = run("codeq_tenant", "list")

    lines = out.splitlines()
    assert lines[0].split() == ["SLUG", "STATUS", "SHARDS", "NAME"]
    assert [line.split() for line in lines[1:]] == [
        ["acme", "active", "2", "Acme"],
        ["globex", "inactive", "1", "Globex"],
    ]


def test_tenant_list_says_when_there_are_none():
    assert run("codeq_tenant", "list")[0].strip() == "No tenants."


def test_token_issue_prints_only_the_bearer_which_authenticates(api_client, tenant):
    out, err = run("codeq_token", "issue", "--tenant", "acme", "--role", "worker", "--name", "pool-a")

    bearer = out.strip()
    token = ApiToken.objects.get(tenant=tenant)
    assert (token.name, token.role, token.expires_at) == ("pool-a", "worker", None)
    assert f"worker token 'pool-a' (id {token.pk})" in err and "only time" in err
    response = api_client.post("/work", HTTP_AUTHORIZATION=f"Bearer {bearer}")
    assert response.json()["workerId"] == f"token:{token.jti}"


def test_token_issue_json_has_token_id_tenant_role_and_expiry(api_client, tenant):
    out, _ = run("codeq_token", "issue", "--tenant", "acme", "--role", "producer", "--expires-in", "7", "--json")

    issued = json.loads(out)
    token = ApiToken.objects.get(pk=issued["id"])
    assert (issued["tenant"], issued["role"], issued["name"]) == ("acme", "producer", "producer")
    assert issued["expiresAt"] == token.expires_at.isoformat()
    assert api_client.post("/produce", HTTP_AUTHORIZATION=f"Bearer {issued['token']}").status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tenant", "nope", "--role", "worker"), "Unknown tenant 'nope'."),
        (("--tenant", "acme", "--role", "boss"), "invalid choice: 'boss'"),
        (("--tenant", "acme", "--role", "worker", "--expires-in", "0"), "positive number of days"),
        (
            (
                "--role",
                "worker",
            ),
            "--tenant",
        ),
    ],
)
def test_token_issue_explains_bad_input(tenant, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run("codeq_token", "issue", *args)

    assert not ApiToken.objects.exists()


def test_token_list_shows_status_and_never_a_bearer(tenant, foreign_tenant):
    ApiTokenFactory(tenant=tenant, name="ci", role="producer")
    ApiTokenFactory(tenant=foreign_tenant, name="theirs")
    revoked = ApiTokenFactory(tenant=tenant, name="old", role="worker")
    run("codeq_token", "revoke", str(revoked.pk))

    out, _ = run("codeq_token", "list", "--tenant", "acme")

    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(row[1], row[2], row[-1]) for row in rows] == [
        ("worker", "revoked", "old"),
        ("producer", "active", "ci"),
    ]
    assert "eyJ" not in out


def test_token_list_json(tenant):
    token = ApiTokenFactory(tenant=tenant, name="ci")

    listed = json.loads(run("codeq_token", "list", "--tenant", "acme", "--json")[0])

    assert [(t["id"], t["name"], t["status"]) for t in listed] == [(token.pk, "ci", "active")]
    assert "token" not in listed[0]


def test_token_revoke_refuses_the_bearer_at_once(api_client, tenant, settings):
    settings.CODEQ_TOKEN_CACHE_SECONDS = 0  # no process-local copy of the grant: the next request sees it
    bearer = run("codeq_token", "issue", "--tenant", "acme", "--role", "admin")[0].strip()
    token_id = ApiToken.objects.get(tenant=tenant).pk
    assert api_client.post("/admin", HTTP_AUTHORIZATION=f"Bearer {bearer}").status_code == 200

    out, _ = run("codeq_token", "revoke", str(token_id))

    assert out.strip() == f"Revoked token {token_id} ('admin') of tenant acme."
    response = api_client.post("/admin", HTTP_AUTHORIZATION=f"Bearer {bearer}")
    assert (response.status_code, response.json()["error"]) == (401, "token revoked")


def test_token_revoke_of_an_unknown_id_fails():
    with pytest.raises(CommandError, match=re.escape("Unknown token id 999.")):
        run("codeq_token", "revoke", "999")


def test_member_add_then_change_role(tenant):
    UserFactory(username="dave")

    out, _ = run("codeq_member", "add", "--tenant", "acme", "--user", "dave", "--role", "viewer")
    run("codeq_member", "add", "--tenant", "acme", "--user", "dave", "--role", "admin")

    assert out.strip() == "dave is viewer of tenant acme."
    assert [(m.user.username, m.role) for m in selectors.members_for(tenant=tenant)] == [("dave", "admin")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tenant", "acme", "--user", "nobody", "--role", "viewer"), "Unknown user 'nobody'."),
        (("--tenant", "nope", "--user", "dave", "--role", "viewer"), "Unknown tenant 'nope'."),
        (("--tenant", "acme", "--user", "dave", "--role", "owner"), "invalid choice: 'owner'"),
    ],
)
def test_member_add_explains_bad_input(tenant, args, message):
    UserFactory(username="dave")

    with pytest.raises(CommandError, match=re.escape(message)):
        run("codeq_member", "add", *args)

    assert not Membership.objects.exists()


def test_member_remove(tenant):
    MembershipFactory(tenant=tenant, user=UserFactory(username="erin"))

    out, _ = run("codeq_member", "remove", "--tenant", "acme", "--user", "erin")

    assert out.strip() == "Removed erin from tenant acme."
    assert not Membership.objects.exists()
    with pytest.raises(CommandError, match=re.escape("erin is not a member of tenant acme.")):
        run("codeq_member", "remove", "--tenant", "acme", "--user", "erin")


def test_member_commands_keep_the_last_admin(tenant):
    MembershipFactory(tenant=tenant, user=UserFactory(username="ada"), role="admin")

    for args in (("add", "--tenant", "acme", "--user", "ada", "--role", "viewer"),
                 ("remove", "--tenant", "acme", "--user", "ada")):  # fmt: skip
        with pytest.raises(CommandError, match="ada is the last admin of acme"):
            run("codeq_member", *args)

    assert Membership.objects.get(user__username="ada").role == "admin"
