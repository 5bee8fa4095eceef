"""Test-only routes exercising the endpoint frame's authentication and roles (``@pytest.mark.urls``)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, PRODUCE, READ, WORK, endpoint
from codeq_platform.api.errors import json_response


def probe(roles: frozenset[str]):
    """Answers with the caller's principal when its role is one of ``roles``."""

    @endpoint("POST", roles=roles, operation="probe", tags=("test",), responses={200: None}, summary="probe")
    async def view(request: HttpRequest, principal: Principal) -> HttpResponse:
        return json_response({"tenant": principal.tenant_slug, "tenantId": principal.tenant_id, "role": principal.role,
                              "tokenId": principal.token_id, "tokenName": principal.token_name,
                              "workerId": principal.worker_id})  # fmt: skip

    return view


urlpatterns = [
    path("read", probe(READ)),
    path("produce", probe(PRODUCE)),
    path("work", probe(WORK)),
    path("admin", probe(ADMIN)),
]
