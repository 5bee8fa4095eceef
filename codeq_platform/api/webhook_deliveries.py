"""Tenant self-service for webhook deliveries under ``/v1/codeq/admin/`` (admins): a subscription's
recent deliveries with every attempt, a test event, a redelivery, and the rotation of the tenant's
own signing secret (result callbacks and worker wake-ups). Sends are queued: these answer 202 and
the outcome shows in the delivery's attempts."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from codeq_platform.api import inputs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, Values, endpoint
from codeq_platform.api.errors import json_response
from codeq_platform.base import db
from codeq_platform.webhooks import deliveries, secrets
from codeq_platform.webhooks import selectors as webhook_selectors
from codeq_platform.webhooks.models import Delivery, DeliveryAttempt
from tenants import selectors
from tenants.models import Tenant

TAGS = ("self-service",)


def _tenant(principal: Principal) -> Tenant:
    return selectors.tenant_by_id(tenant_id=principal.tenant_id)


class AttemptOut(serializers.ModelSerializer[Any]):
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    latencyMs = serializers.IntegerField(source="latency_ms")
    responseBody = serializers.CharField(source="response_body", help_text="the first KiB of the answer")
    at = serializers.DateTimeField(source="created")

    class Meta:
        model = DeliveryAttempt
        fields = ("number", "ok", "statusCode", "latencyMs", "error", "responseBody", "at")


class DeliveryOut(serializers.ModelSerializer[Any]):
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


class DeliveryPageOut(serializers.Serializer[Any]):
    deliveries = DeliveryOut(many=True)
    nextCursor = serializers.CharField(required=False, help_text="absent on the last page")


class QueuedOut(serializers.Serializer[Any]):
    deliveryId = serializers.UUIDField()
    status = serializers.CharField()


ROTATED = inline_serializer(
    "RotatedSigningSecret",
    {"secret": serializers.CharField(), "previousSecretExpiresAt": serializers.DateTimeField(allow_null=True)},
)


def _page(principal: Principal, subscription_id: int, query: Values) -> dict[str, Any]:
    tenant = _tenant(principal)
    webhook_selectors.webhook_subscription_for(tenant=tenant, subscription_id=subscription_id)
    page = webhook_selectors.deliveries_for(tenant=tenant, subscription_id=subscription_id, limit=query["limit"],
                                             cursor=query["cursor"])  # fmt: skip
    body: Values = {"deliveries": DeliveryOut(page.deliveries, many=True).data}
    if page.next_cursor:
        body["nextCursor"] = page.next_cursor
    return body


def _test(principal: Principal, subscription_id: int) -> dict[str, Any]:
    sub = webhook_selectors.webhook_subscription_for(tenant=_tenant(principal), subscription_id=subscription_id)
    delivery = deliveries.send_test_event(subscription=sub, actor=principal.actor)
    return {"deliveryId": str(delivery.id), "status": delivery.status}


def _delivery(principal: Principal, delivery_id: uuid.UUID) -> Any:
    return DeliveryOut(webhook_selectors.delivery_for(tenant=_tenant(principal), delivery_id=delivery_id)).data


def _redeliver(principal: Principal, delivery_id: uuid.UUID) -> dict[str, Any]:
    delivery = webhook_selectors.delivery_for(tenant=_tenant(principal), delivery_id=delivery_id)
    delivery = deliveries.redeliver(delivery=delivery, actor=principal.actor)
    return {"deliveryId": str(delivery.id), "status": delivery.status}


def _rotate(principal: Principal, grace: int) -> dict[str, Any]:
    row = secrets.rotate_tenant_secret(tenant=_tenant(principal), grace_seconds=grace, actor=principal.actor)
    return {"secret": row.secret, "previousSecretExpiresAt": row.previous_secret_expires_at}


@endpoint("GET", roles=ADMIN, operation="admin", query=inputs.DeliveryPage, tags=TAGS,
          responses={200: DeliveryPageOut}, raises=(404,), summary="A subscription's deliveries, newest first",
          operation_id="webhooks_deliveries_list")  # fmt: skip
async def subscription_deliveries(request: HttpRequest, principal: Principal, subscription_id: int,
                                  query: Values) -> HttpResponse:  # fmt: skip
    return json_response(await db.run(_page, principal, subscription_id, query))


@endpoint("POST", roles=ADMIN, operation="admin", tags=TAGS, responses={202: QueuedOut}, raises=(404,),
          summary="Queue a test event", operation_id="webhooks_test",
          description="Queue a signed `webhook.test` event to the subscription (also while it is paused); one "
                      "attempt, shown in its deliveries.")  # fmt: skip
async def subscription_test(request: HttpRequest, principal: Principal, subscription_id: int) -> HttpResponse:
    return json_response(await db.run(_test, principal, subscription_id), 202)


@endpoint("GET", roles=ADMIN, operation="admin", tags=TAGS, responses={200: DeliveryOut}, raises=(404,),
          summary="One delivery with its attempts", operation_id="webhooks_delivery_get")  # fmt: skip
async def delivery_detail(request: HttpRequest, principal: Principal, delivery_id: uuid.UUID) -> HttpResponse:
    return json_response(await db.run(_delivery, principal, delivery_id))


@endpoint("POST", roles=ADMIN, operation="admin", tags=TAGS, responses={202: QueuedOut}, raises=(404, 409),
          summary="Send a finished delivery again", operation_id="webhooks_redeliver",
          description="Send a delivered or dead delivery again: same id and body, a fresh budget of attempts. "
                      "409 while it is still being sent.")  # fmt: skip
async def delivery_redeliver(request: HttpRequest, principal: Principal, delivery_id: uuid.UUID) -> HttpResponse:
    return json_response(await db.run(_redeliver, principal, delivery_id), 202)


@endpoint("POST", roles=ADMIN, operation="admin", body=inputs.RotateBody, tags=TAGS, responses={200: ROTATED},
          summary="Rotate the tenant's own signing secret", operation_id="webhooks_signing_secret_rotate",
          description="A new secret for the tenant's result callbacks and worker wake-ups, shown this once; the "
                      "old one keeps signing (beside it) for graceSeconds (default 86400).")  # fmt: skip
async def signing_secret_rotate(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    return json_response(await db.run(_rotate, principal, body["graceSeconds"]))
