"""Production settings: secure cookies outside DEBUG, HTTPS switches from the environment, and Django's
deployment check passing with the environment the README's production section gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.test import Client

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "a-production-secret-of-more-than-fifty-characters-with-variety-9f3Kq!Zx",
    "ALLOWED_HOSTS": "codeq.example.com",
    "CODEQ_SSL_REDIRECT": "1",
    "CODEQ_HSTS_SECONDS": "31536000",
    "CODEQ_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}


def deploy_check(**env: str) -> subprocess.CompletedProcess:
    """``manage.py check --deploy --fail-level WARNING`` in a process of its own with ``env`` set."""
    base = {k: v for k, v in os.environ.items() if not (k == "DEBUG" or k.startswith(("CODEQ_", "SECURE_")))}
    base |= {"CODEQ_KV_URL": settings.CODEQ_KV_URL, "CODEQ_JWT_SECRET": "j" * 40}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=base | env, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_deployment_check_passes_with_the_production_environment():
    result = deploy_check(**PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_without_hsts_and_the_redirect_the_deployment_check_fails_naming_them():
    env = {k: v for k, v in PRODUCTION.items() if k not in ("CODEQ_SSL_REDIRECT", "CODEQ_HSTS_SECONDS")}
    result = deploy_check(**env)

    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr
    assert "W012" not in result.stderr and "W016" not in result.stderr


def test_a_plain_http_setup_opts_out_of_secure_cookies_and_the_check_says_so():
    result = deploy_check(**PRODUCTION, CODEQ_ALLOW_HTTP="1")

    assert result.returncode != 0
    assert "security.W012" in result.stderr and "security.W016" in result.stderr


def test_outside_debug_the_session_and_csrf_cookies_are_secure(db):
    UserFactory(username="olivia", password=make_password("pw-for-tests"))
    browser = Client(enforce_csrf_checks=True)
    form = browser.get("/dashboard/login/")
    signed_in = browser.post("/dashboard/login/", {
        "username": "olivia", "password": "pw-for-tests", "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
    })  # fmt: skip

    assert form.cookies["csrftoken"]["secure"] is True
    assert signed_in.status_code == 302 and signed_in.cookies["sessionid"]["secure"] is True
    assert signed_in.cookies["sessionid"]["httponly"] is True
