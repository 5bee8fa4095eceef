"""Bearer-token authentication and role permissions, through test-only DRF views (tests/api/auth_urls.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

from codeq_platform.api.auth import aauthenticate_bearer
from codeq_platform.errors import Unauthenticated
from tenants import bearer, services
from tenants.models import ApiToken
from tests.conftest import JWT_SECRET
from tests.factories import ApiTokenFactory, TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.auth_urls")]


def call(client, path: str, token: str | None = None, *, authorization: str | None = None):
    headers = {}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    return client.post(f"/{path}", **headers)


def claims_of(token: ApiToken, **overrides) -> dict:
    claims = {
        "iss": "codeq-platform",
        "sub": token.jti,
        "tenantId": token.tenant.slug,
        "role": token.role,
        "iat": int(time.time()),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def assert_refused(response, message: str) -> None:
    assert response.status_code == 401
    assert response.json()["error"] == message
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_valid_token_gives_its_tenant_role_and_worker_identity(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant, role="worker", name="pool-a")

    response = call(api_client, "read", bearer.mint(token))

    assert response.status_code == 200
    assert response.json() == {
        "tenant": "acme",
        "tenantId": tenant.pk,
        "role": "worker",
        "tokenId": token.pk,
        "tokenName": "pool-a",
        "workerId": f"token:{token.jti}",
    }


def test_issued_bearer_is_accepted(api_client, tenant):
    issued = services.issue_token(tenant=tenant, name="ci", role="producer", expires_in_days=30)

    assert call(api_client, "produce", issued.bearer).status_code == 200


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing bearer token"),
        ("", "missing bearer token"),
        ("Basic dXNlcjpwYXNz", "authorization scheme must be Bearer"),
        ("Bearer", "malformed authorization header"),
        ("Bearer a b", "malformed authorization header"),
        ("Bearer not-a-jwt", "invalid token"),
    ],
)
def test_missing_or_malformed_header_gets_401(api_client, tenant, authorization, message):
    assert_refused(call(api_client, "read", authorization=authorization), message)


def test_none_algorithm_is_refused(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant)
    forged = jwt.encode(claims_of(token), None, algorithm="none")

    assert_refused(call(api_client, "read", forged), "invalid token")


def test_other_algorithm_with_the_right_key_is_refused(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant)
    forged = jwt.encode(claims_of(token), JWT_SECRET + JWT_SECRET, algorithm="HS512")

    assert_refused(call(api_client, "read", forged), "invalid token")


def test_bad_signature_is_refused(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant)
    forged = jwt.encode(claims_of(token), "another-secret-of-at-least-32-bytes!!", algorithm="HS256")

    assert_refused(call(api_client, "read", forged), "invalid token")


@pytest.mark.parametrize("iss", ["someone-else", None])
def test_wrong_or_missing_issuer_is_refused(api_client, tenant, iss):
    token = ApiTokenFactory(tenant=tenant)
    forged = jwt.encode(claims_of(token, iss=iss), JWT_SECRET, algorithm="HS256")

    assert_refused(call(api_client, "read", forged), "invalid token")


def test_expired_jwt_is_refused(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant)
    expired = jwt.encode(claims_of(token, exp=int(time.time()) - 10), JWT_SECRET, algorithm="HS256")

    assert_refused(call(api_client, "read", expired), "token expired")


def test_expired_row_is_refused_even_if_the_jwt_has_no_exp(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant, expires_at=timezone.now() - timedelta(seconds=1))
    without_exp = jwt.encode(claims_of(token), JWT_SECRET, algorithm="HS256")

    assert_refused(call(api_client, "read", without_exp), "token expired")


def test_unknown_subject_is_refused(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant)
    forged = jwt.encode(claims_of(token, sub="0" * 32), JWT_SECRET, algorithm="HS256")

    assert_refused(call(api_client, "read", forged), "unknown token")


def test_token_presented_under_another_tenant_is_unknown(api_client, tenant, foreign_tenant):
    token = ApiTokenFactory(tenant=tenant, role="admin")
    moved = jwt.encode(claims_of(token, tenantId=foreign_tenant.slug), JWT_SECRET, algorithm="HS256")

    assert_refused(call(api_client, "read", moved), "unknown token")


def test_role_claim_that_differs_from_the_row_is_refused(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant, role="producer")
    promoted = jwt.encode(claims_of(token, role="admin"), JWT_SECRET, algorithm="HS256")

    assert_refused(call(api_client, "admin", promoted), "invalid token")


def test_revoked_token_is_refused_on_the_next_request(api_client, tenant, settings):
    settings.CODEQ_TOKEN_CACHE_SECONDS = 0  # no process-local copy of the grant: the next request sees it
    token = ApiTokenFactory(tenant=tenant)
    token_bearer = bearer.mint(token)
    assert call(api_client, "read", token_bearer).status_code == 200

    services.revoke_token(token_id=token.pk)

    assert_refused(call(api_client, "read", token_bearer), "token revoked")


def test_revocation_behind_the_services_is_seen_within_5_seconds(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant)
    token_bearer = bearer.mint(token)
    assert call(api_client, "read", token_bearer).status_code == 200

    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    revoked_at = time.monotonic()
    assert call(api_client, "read", token_bearer).status_code == 200, "the grant should be cached"
    while call(api_client, "read", token_bearer).status_code == 200:
        assert time.monotonic() - revoked_at < 5.5
        time.sleep(0.25)

    assert_refused(call(api_client, "read", token_bearer), "token revoked")


def test_a_suspended_tenants_tokens_are_refused_at_once_with_403(api_client, tenant, producer_bearer, settings):
    settings.CODEQ_TOKEN_CACHE_SECONDS = 0  # no process-local copy of the grant: the next request sees it
    assert call(api_client, "read", producer_bearer).status_code == 200

    services.set_tenant_active(tenant=tenant, active=False)

    response = call(api_client, "read", producer_bearer)
    assert response.status_code == 403
    assert response.json() == {"error": "tenant suspended", "code": "tenant_suspended"}


def test_other_tenants_tokens_are_unaffected_by_a_revocation(api_client, tenant, foreign_bearer):
    services.revoke_token(token_id=ApiTokenFactory(tenant=tenant).pk)

    assert call(api_client, "read", foreign_bearer).json()["tenant"] == "globex"


def test_last_used_at_is_written_at_most_once_a_minute(api_client, tenant):
    token = ApiTokenFactory(tenant=tenant)
    token_bearer = bearer.mint(token)

    call(api_client, "read", token_bearer)
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < timedelta(seconds=5)

    sentinel = timezone.now() - timedelta(days=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=sentinel)
    for _ in range(3):
        call(api_client, "read", token_bearer)
    token.refresh_from_db()
    assert token.last_used_at == sentinel


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("producer", "read", 200),
        ("producer", "produce", 200),
        ("producer", "work", 403),
        ("producer", "admin", 403),
        ("worker", "read", 200),
        ("worker", "produce", 403),
        ("worker", "work", 200),
        ("worker", "admin", 403),
        ("admin", "read", 200),
        ("admin", "produce", 200),
        ("admin", "work", 200),
        ("admin", "admin", 200),
    ],
)
def test_roles_reach_only_their_endpoints(api_client, tenant, role, path, status):
    response = call(api_client, path, bearer.mint(ApiTokenFactory(tenant=tenant, role=role)))

    assert response.status_code == status
    if status == 403:
        assert response.json()["error"] == "forbidden"


@pytest.mark.django_db(transaction=True)
async def test_async_face_returns_the_principal_and_raises_invalid_bearer():
    issued = await sync_to_async(_issue_worker_token)()
    try:
        principal = await aauthenticate_bearer(f"Bearer {issued.bearer}")
        with pytest.raises(Unauthenticated) as refused:
            await aauthenticate_bearer("Bearer nope")
    finally:
        await sync_to_async(connections.close_all)()

    assert (principal.tenant_slug, principal.role) == ("initech", "worker")
    assert principal.worker_id == f"token:{issued.token_row.jti}"
    assert refused.value.message == "invalid token"


def _issue_worker_token() -> services.IssuedToken:
    return services.issue_token(tenant=TenantFactory(slug="initech"), name="pool", role="worker")
