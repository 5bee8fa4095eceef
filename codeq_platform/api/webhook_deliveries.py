"""Tenant self-service for webhook deliveries under ``/v1/codeq/admin/`` (admins): a subscription's
recent deliveries with every attempt, a test event, a redelivery, and the rotation of the tenant's
own signing secret (result callbacks and worker wake-ups). Sends are queued: these answer 202 and
the outcome shows in the delivery's attempts."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from codeq_platform.api.auth import IsAdmin
from codeq_platform.errors import InvalidInput
from codeq_platform.webhooks import deliveries, secrets
from codeq_platform.webhooks import selectors as webhook_selectors
from codeq_platform.webhooks.models import Delivery, DeliveryAttempt
from tenants.models import Tenant


def _tenant(request: Request) -> Tenant:
    return Tenant.objects.get(pk=request.auth.tenant_id)


def _grace(request: Request) -> int:
    grace = request.data.get("graceSeconds", 86_400) if isinstance(request.data, dict) else None
    if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 30 * 86_400:
        raise InvalidInput("graceSeconds must be an integer from 0 to 2592000", field="graceSeconds")
    return grace


class AttemptOut(serializers.ModelSerializer):
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    latencyMs = serializers.IntegerField(source="latency_ms")
    responseBody = serializers.CharField(source="response_body", help_text="the first KiB of the answer")
    at = serializers.DateTimeField(source="created")

    class Meta:
        model = DeliveryAttempt
        fields = ("number", "ok", "statusCode", "latencyMs", "error", "responseBody", "at")


class DeliveryOut(serializers.ModelSerializer):
    subscriptionId = serializers.IntegerField(source="subscription_id", allow_null=True)
    eventType = serializers.CharField(source="event_type")
    taskId = serializers.CharField(source="task_id")
    maxAttempts = serializers.IntegerField(source="max_attempts")
    createdAt = serializers.DateTimeField(source="created")
    updatedAt = serializers.DateTimeField(source="updated")
    attemptLog = AttemptOut(source="attempt_log", many=True)

    class Meta:
        model = Delivery
        fields = ("id", "subscriptionId", "kind", "eventType", "taskId", "url", "status", "attempts", "maxAttempts",
                  "createdAt", "updatedAt", "attemptLog")  # fmt: skip


class DeliveryPageOut(serializers.Serializer):
    deliveries = DeliveryOut(many=True)
    nextCursor = serializers.CharField(required=False, help_text="absent on the last page")


class QueuedOut(serializers.Serializer):
    deliveryId = serializers.UUIDField()
    status = serializers.CharField()


class PageQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    cursor = serializers.CharField(required=False, default="")


class SubscriptionDeliveries(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(parameters=[PageQuery], responses=DeliveryPageOut, tags=["self-service"],
                   operation_id="webhooks_deliveries_list")  # fmt: skip
    def get(self, request: Request, subscription_id: int) -> Response:
        tenant = _tenant(request)
        query = PageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        webhook_selectors.webhook_subscription_for(tenant=tenant, subscription_id=subscription_id)
        page = webhook_selectors.deliveries_for(tenant=tenant, subscription_id=subscription_id,
                                                 limit=query.validated_data["limit"],
                                                 cursor=query.validated_data["cursor"])  # fmt: skip
        body: dict = {"deliveries": DeliveryOut(page.deliveries, many=True).data}
        if page.next_cursor:
            body["nextCursor"] = page.next_cursor
        return Response(body)


class SubscriptionTest(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(request=None, responses={202: QueuedOut}, tags=["self-service"], operation_id="webhooks_test",
                   description="Queue a signed `webhook.test` event to the subscription (also while it is "
                               "paused); one attempt, shown in its deliveries.")  # fmt: skip
    def post(self, request: Request, subscription_id: int) -> Response:
        sub = webhook_selectors.webhook_subscription_for(tenant=_tenant(request), subscription_id=subscription_id)
        delivery = deliveries.send_test_event(subscription=sub, actor=request.auth.actor)
        return Response({"deliveryId": delivery.id, "status": delivery.status}, status=status.HTTP_202_ACCEPTED)


class DeliveryDetail(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(responses=DeliveryOut, tags=["self-service"], operation_id="webhooks_delivery_get",
                   parameters=[OpenApiParameter("delivery_id", str, OpenApiParameter.PATH)])  # fmt: skip
    def get(self, request: Request, delivery_id: uuid.UUID) -> Response:
        delivery = webhook_selectors.delivery_for(tenant=_tenant(request), delivery_id=delivery_id)
        return Response(DeliveryOut(delivery).data)


class DeliveryRedeliver(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(request=None, responses={202: QueuedOut}, tags=["self-service"], operation_id="webhooks_redeliver",
                   parameters=[OpenApiParameter("delivery_id", str, OpenApiParameter.PATH)],
                   description="Send a delivered or dead delivery again: same id and body, a fresh budget of "
                               "attempts. 409 while it is still being sent.")  # fmt: skip
    def post(self, request: Request, delivery_id: uuid.UUID) -> Response:
        delivery = webhook_selectors.delivery_for(tenant=_tenant(request), delivery_id=delivery_id)
        delivery = deliveries.redeliver(delivery=delivery, actor=request.auth.actor)
        return Response({"deliveryId": delivery.id, "status": delivery.status}, status=status.HTTP_202_ACCEPTED)


class SigningSecretRotate(APIView):
    permission_classes = (IsAdmin,)

    @extend_schema(
        request=inline_serializer("RotateSigningSecretBody", {
            "graceSeconds": serializers.IntegerField(required=False)}),
        responses=inline_serializer("RotatedSigningSecret", {
            "secret": serializers.CharField(), "previousSecretExpiresAt": serializers.DateTimeField(allow_null=True)}),
        tags=["self-service"], operation_id="webhooks_signing_secret_rotate",
        description="A new secret for the tenant's result callbacks and worker wake-ups, shown this once; "
                    "the old one keeps signing (beside it) for graceSeconds (default 86400).")  # fmt: skip
    def post(self, request: Request) -> Response:
        grace = _grace(request)
        row = secrets.rotate_tenant_secret(tenant=_tenant(request), grace_seconds=grace, actor=request.auth.actor)
        return Response({"secret": row.secret, "previousSecretExpiresAt": row.previous_secret_expires_at})
