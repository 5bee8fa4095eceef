"""Tenant self-service under ``/v1/codeq/admin/``: API tokens and webhook subscriptions (admins).

Secrets are shown once: a token's bearer when it is issued, a subscription's secret when it is created
or rotated. Every change writes an audit entry (the services do).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from codeq_platform.api.auth import IsAdmin
from codeq_platform.errors import InvalidInput
from codeq_platform.webhooks import selectors as webhook_selectors
from codeq_platform.webhooks import services as webhook_services
from codeq_platform.webhooks.models import WebhookSubscription
from tenants import selectors, services
from tenants.models import ApiToken, Tenant


def _tenant(request: Request) -> Tenant:
    return Tenant.objects.get(pk=request.auth.tenant_id)


def _invalid(exc: ValidationError) -> InvalidInput:
    if hasattr(exc, "message_dict"):
        field, messages = next(iter(exc.message_dict.items()))
        return InvalidInput(f"{field}: {messages[0]}", field=field)
    return InvalidInput(exc.messages[0])


class TokenOut(serializers.ModelSerializer):
    lastUsedAt = serializers.DateTimeField(source="last_used_at", allow_null=True)
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)

    class Meta:
        model = ApiToken
        fields = ("id", "name", "role", "created", "lastUsedAt", "expiresAt", "revokedAt")


class TokenIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(["producer", "worker", "admin"])
    expiresInDays = serializers.IntegerField(min_value=1, max_value=3650, required=False)


class IssuedTokenOut(TokenOut):
    token = serializers.CharField(help_text="the bearer token; shown this once")

    class Meta(TokenOut.Meta):
        fields = (*TokenOut.Meta.fields, "token")


class Tokens(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(responses=TokenOut(many=True), tags=["self-service"], operation_id="tokens_list")
    def get(self, request: Request) -> Response:
        return Response(TokenOut(selectors.tokens_for(tenant=_tenant(request)), many=True).data)

    @extend_schema(request=TokenIn, responses={201: IssuedTokenOut}, tags=["self-service"], operation_id="tokens_issue")
    def post(self, request: Request) -> Response:
        data = TokenIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            issued = services.issue_token(tenant=_tenant(request), name=data.validated_data["name"],
                                          role=data.validated_data["role"],
                                          expires_in_days=data.validated_data.get("expiresInDays"),
                                          actor=request.auth.actor)  # fmt: skip
        except ValidationError as exc:
            raise _invalid(exc) from None
        body = TokenOut(issued.token_row).data
        return Response({**body, "token": issued.bearer}, status=status.HTTP_201_CREATED)


class TokenDetail(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(request=None, responses=TokenOut, tags=["self-service"], operation_id="tokens_revoke")
    def delete(self, request: Request, token_id: int) -> Response:
        token = services.revoke_token(token_id=token_id, tenant=_tenant(request), actor=request.auth.actor)
        return Response(TokenOut(token).data)


class WebhookOut(serializers.ModelSerializer):
    pausedReason = serializers.CharField(source="paused_reason")
    previousSecretExpiresAt = serializers.DateTimeField(source="previous_secret_expires_at", allow_null=True)

    class Meta:
        model = WebhookSubscription
        fields = ("id", "url", "events", "commands", "active", "pausedReason", "created", "previousSecretExpiresAt")


class WebhookIn(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(child=serializers.ChoiceField(WebhookSubscription.Event.values), min_length=1)
    commands = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)


class WebhookPatch(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    events = serializers.ListField(child=serializers.ChoiceField(WebhookSubscription.Event.values), min_length=1,
                                   required=False)  # fmt: skip
    commands = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    active = serializers.BooleanField(required=False)


class Webhooks(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(responses=WebhookOut(many=True), tags=["self-service"], operation_id="webhooks_list")
    def get(self, request: Request) -> Response:
        subs = webhook_selectors.webhook_subscriptions_for(tenant=_tenant(request))
        return Response(WebhookOut(subs, many=True).data)

    @extend_schema(request=WebhookIn, responses={201: inline_serializer("CreatedWebhook", {
        "id": serializers.IntegerField(), "secret": serializers.CharField()})}, tags=["self-service"],
        operation_id="webhooks_create")  # fmt: skip
    def post(self, request: Request) -> Response:
        data = WebhookIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = webhook_services.create_webhook_subscription(
                tenant=_tenant(request),
                url=data.validated_data["url"],
                events=data.validated_data["events"],
                commands=data.validated_data["commands"],
                actor=request.auth.actor,
            )
        except ValidationError as exc:
            raise _invalid(exc) from None
        body = WebhookOut(created.subscription).data
        return Response({**body, "secret": created.secret}, status=status.HTTP_201_CREATED)


class WebhookRotate(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(
        request=inline_serializer("RotateBody", {"graceSeconds": serializers.IntegerField(required=False)}),
        responses=inline_serializer("Rotated", {"secret": serializers.CharField(),
                                                "previousSecretExpiresAt": serializers.DateTimeField()}),
        tags=["self-service"], operation_id="webhooks_rotate")  # fmt: skip
    def post(self, request: Request, subscription_id: int) -> Response:
        grace = request.data.get("graceSeconds", 86_400) if isinstance(request.data, dict) else None
        if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 30 * 86_400:
            raise InvalidInput("graceSeconds must be an integer from 0 to 2592000", field="graceSeconds")
        sub = webhook_selectors.webhook_subscription_for(tenant=_tenant(request), subscription_id=subscription_id)
        secret = webhook_services.rotate_webhook_secret(subscription=sub, grace_seconds=grace, actor=request.auth.actor)
        sub.refresh_from_db()
        return Response({"secret": secret, "previousSecretExpiresAt": sub.previous_secret_expires_at})


class WebhookDetail(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(responses=WebhookOut, tags=["self-service"], operation_id="webhooks_get")
    def get(self, request: Request, subscription_id: int) -> Response:
        sub = webhook_selectors.webhook_subscription_for(tenant=_tenant(request), subscription_id=subscription_id)
        return Response(WebhookOut(sub).data)

    @extend_schema(request=WebhookPatch, responses=WebhookOut, tags=["self-service"], operation_id="webhooks_update",
                   description="Change url, events, commands or active; active=true clears pausedReason.")  # fmt: skip
    def patch(self, request: Request, subscription_id: int) -> Response:
        sub = webhook_selectors.webhook_subscription_for(tenant=_tenant(request), subscription_id=subscription_id)
        data = WebhookPatch(data=request.data)
        data.is_valid(raise_exception=True)
        changes = {"url": sub.url, "events": sub.events, "commands": sub.commands, "active": sub.active,
                   **data.validated_data}  # fmt: skip
        try:
            sub = webhook_services.update_webhook_subscription(subscription=sub, actor=request.auth.actor, **changes)
        except ValidationError as exc:
            raise _invalid(exc) from None
        return Response(WebhookOut(sub).data)

    @extend_schema(responses={204: None}, tags=["self-service"], operation_id="webhooks_delete")
    def delete(self, request: Request, subscription_id: int) -> Response:
        sub = webhook_selectors.webhook_subscription_for(tenant=_tenant(request), subscription_id=subscription_id)
        webhook_services.delete_webhook_subscription(subscription=sub, actor=request.auth.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
