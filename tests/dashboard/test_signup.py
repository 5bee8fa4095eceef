"""Self-service sign-up: 404 while closed; when open, one form, a confirmation link by email that creates
the account and the tenant (default limits, its creator as admin), checked names and a rate limit."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tenants.models import AuditEntry, Membership, Tenant
from tests.factories import TenantFactory, UserFactory

PASSWORD = "correct-horse-battery-staple"
FORM = {"username": "nora", "email": "nora@example.com", "password1": PASSWORD, "password2": PASSWORD,
        "slug": "initech", "name": "Initech"}  # fmt: skip


@pytest.fixture
def open_signup(settings):
    settings.CODEQ_SIGNUP = "open"


def sign_up(client: Client, **changes):
    client.get("/dashboard/signup/")
    return client.post(
        "/dashboard/signup/", {**FORM, **changes, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    )


def mailed_link(mailoutbox) -> str:
    return re.search(r"http://testserver(/dashboard/signup/confirm/\S+/)", mailoutbox[-1].body).group(1)


def confirm(client: Client, link: str, **kwargs):
    if "csrftoken" not in client.cookies:
        client.get("/dashboard/login/")
    return client.post(link, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value}, **kwargs)


@pytest.mark.django_db
def test_closed_sign_up_answers_404_everywhere(client):
    assert client.get("/dashboard/signup/").status_code == 404
    assert client.post("/dashboard/signup/", FORM).status_code == 404
    assert client.get("/dashboard/signup/confirm/anything/").status_code == 404
    assert "Create an account" not in client.get("/dashboard/login/").content.decode()
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_a_visitor_gets_an_account_and_a_tenant_once_the_emailed_link_is_confirmed(open_signup, mailoutbox):
    visitor = Client(enforce_csrf_checks=True)
    assert "Create an account and a tenant" in visitor.get("/dashboard/login/").content.decode()
    sent = sign_up(visitor)
    assert sent.status_code == 200 and "We sent a link to <strong>nora@example.com</strong>" in sent.content.decode()
    assert mailoutbox[-1].to == ["nora@example.com"]
    assert not get_user_model().objects.exists() and not Tenant.objects.exists()

    link = mailed_link(mailoutbox)
    page = visitor.get(link)
    assert "creates the account <strong>nora</strong>" in page.content.decode()
    done = confirm(visitor, link, follow=True)
    assert done.redirect_chain[-1][0] == "/dashboard/t/initech/"
    assert "Your tenant initech is ready; you are its admin." in done.content.decode()

    tenant = Tenant.objects.get(slug="initech")
    defaults = Tenant()
    assert tenant.name == "Initech" and tenant.active
    assert (tenant.requests_per_second, tenant.max_queued_tasks, tenant.monthly_task_quota, tenant.shards) == (
        defaults.requests_per_second,
        defaults.max_queued_tasks,
        defaults.monthly_task_quota,
        defaults.shards,
    )
    nora = get_user_model().objects.get(username="nora")
    assert nora.email == "nora@example.com" and nora.check_password(PASSWORD) and not nora.is_staff
    assert Membership.objects.get(tenant=tenant, user=nora).role == "admin"
    assert set(AuditEntry.objects.filter(tenant=tenant).values_list("action", "actor")) == {
        ("tenant.create", "nora"), ("member.add", "nora")}  # fmt: skip

    again = confirm(Client(enforce_csrf_checks=True), link)
    assert again.status_code == 404 and "has been used" in again.content.decode()
    assert Tenant.objects.filter(slug="initech").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "message"), [
    ({"slug": "Not A Slug"}, "A slug is 1-63 characters"),
    ({"slug": "acme"}, "Tenant with this Slug already exists."),
    ({"slug": "codeq-webhooks"}, "This slug is reserved for the platform."),
    ({"username": "taken"}, "A user with that username already exists."),
    ({"email": ""}, "This field is required."),
    ({"password2": "something-else-entirely"}, "The two password fields didn"),
    ({"password1": "12345", "password2": "12345"}, "This password is too short."),
])  # fmt: skip
def test_bad_or_taken_names_are_a_400_with_the_reason(open_signup, mailoutbox, changes, message):
    TenantFactory(slug="acme")
    UserFactory(username="taken")
    response = sign_up(Client(enforce_csrf_checks=True), **changes)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not mailoutbox


@pytest.mark.django_db
def test_a_slug_taken_before_the_link_is_confirmed_creates_nothing(open_signup, mailoutbox):
    visitor = Client(enforce_csrf_checks=True)
    sign_up(visitor)
    TenantFactory(slug="initech")
    response = confirm(visitor, mailed_link(mailoutbox))
    assert response.status_code == 409 and "Sign up again with another name." in response.content.decode()
    assert not get_user_model().objects.filter(username="nora").exists()


@pytest.mark.django_db
def test_an_altered_link_is_not_found(open_signup, mailoutbox):
    visitor = Client(enforce_csrf_checks=True)
    sign_up(visitor)
    link = mailed_link(mailoutbox)
    assert visitor.get(link.replace("/confirm/", "/confirm/x")).status_code == 404
    assert confirm(visitor, link.replace("/confirm/", "/confirm/x")).status_code == 404
    assert not Tenant.objects.exists()


@pytest.mark.django_db
def test_each_address_may_send_a_few_forms_an_hour(open_signup, settings, mailoutbox):
    settings.CODEQ_SIGNUP_PER_HOUR = 2
    visitor = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.7")
    assert sign_up(visitor, slug="one", username="one").status_code == 200
    assert sign_up(visitor, slug="Bad Slug").status_code == 400
    refused = sign_up(visitor, slug="three", username="three")
    assert refused.status_code == 429 and "Too many sign-ups from your address" in refused.content.decode()
    assert len(mailoutbox) == 1
    neighbour = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.8")
    assert sign_up(neighbour, slug="four", username="four").status_code == 200
