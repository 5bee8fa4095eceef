"""Test-only routes exercising BearerTokenAuthentication and the role permissions (``@pytest.mark.urls``)."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from codeq_platform.api.auth import CanProduce, CanRead, CanWork, IsAdmin


class RoleProbe(APIView):
    """Answers with the caller's principal when its permission class lets the caller in."""

    def get(self, request) -> Response:
        return self.post(request)

    def post(self, request) -> Response:
        principal = request.auth
        return Response(
            {
                "tenant": principal.tenant_slug,
                "tenantId": principal.tenant_id,
                "role": principal.role,
                "tokenId": principal.token_id,
                "tokenName": principal.token_name,
                "workerId": principal.worker_id,
            }
        )


urlpatterns = [
    path("read", RoleProbe.as_view(permission_classes=[CanRead])),
    path("produce", RoleProbe.as_view(permission_classes=[CanProduce])),
    path("work", RoleProbe.as_view(permission_classes=[CanWork])),
    path("admin", RoleProbe.as_view(permission_classes=[IsAdmin])),
]
