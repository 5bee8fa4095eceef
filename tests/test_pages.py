"""Project-wide pages: branded error pages for browsers, the API's JSON for programs, the favicon."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import include, path

pytestmark = pytest.mark.django_db


def _broken(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [
    path("dashboard/broken/", _broken),
    path("v1/codeq/broken", _broken),
    path("dashboard/", include("dashboard.urls")),
]

handler500 = "codeq_platform.pages.error"


def test_an_unknown_admin_page_is_the_branded_404(admin_client):
    page = admin_client.get("/admin/tenants/nothing-here/")

    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    body = page.content.decode()
    assert "There is no such page" in body and "codeq.css" in body


def test_an_unknown_api_route_stays_json():
    response = Client().get("/v1/codeq/nothing-here")

    assert response.status_code == 404 and response.json() == {"error": "not found", "code": "not-found"}


@pytest.mark.urls("tests.test_pages")
def test_a_bug_behind_a_dashboard_page_shows_the_branded_500_without_detail():
    page = Client(raise_request_exception=False).get("/dashboard/broken/")

    assert page.status_code == 500
    body = page.content.decode()
    assert "Something went wrong" in body and "RuntimeError" not in body and "Traceback" not in body


@pytest.mark.urls("tests.test_pages")
def test_a_bug_behind_an_api_route_answers_the_json_500():
    response = Client(raise_request_exception=False).get("/v1/codeq/broken")

    assert response.status_code == 500 and response.json() == {"error": "internal error", "code": "internal_error"}


def test_a_stale_form_shows_the_branded_expired_page(django_user_model):
    django_user_model.objects.create_user("ops", password="pw-for-tests")
    browser = Client(enforce_csrf_checks=True)

    page = browser.post("/dashboard/login/", {"username": "ops", "password": "pw-for-tests"})

    assert page.status_code == 403
    body = page.content.decode()
    assert "This page has expired" in body and "Back to the dashboard" in body
    assert "CSRF verification failed" not in body


def test_the_favicon_is_served():
    redirect = Client().get("/favicon.ico")

    assert redirect.status_code == 301
    icon = Client().get(redirect["Location"])
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)
