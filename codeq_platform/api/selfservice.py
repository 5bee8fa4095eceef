"""Tenant self-service under ``/v1/codeq/admin/``: API tokens and webhook subscriptions (admins).

Secrets are shown once: a token's bearer when it is issued, a subscription's secret when it is created
or rotated. Every change writes an audit entry (the services do).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from codeq_platform.api import inputs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, Values, by_method, endpoint
from codeq_platform.api.errors import json_response
from codeq_platform.base import db
from codeq_platform.errors import InvalidInput
from codeq_platform.webhooks import selectors as webhook_selectors
from codeq_platform.webhooks import services as webhook_services
from codeq_platform.webhooks.models import WebhookSubscription
from tenants import selectors, services
from tenants.models import ApiToken, Tenant

TAGS = ("self-service",)


def _tenant(principal: Principal) -> Tenant:
    return selectors.tenant_by_id(tenant_id=principal.tenant_id)


def _invalid(exc: ValidationError) -> InvalidInput:
    if hasattr(exc, "message_dict"):
        field, messages = next(iter(exc.message_dict.items()))
        return InvalidInput(f"{field}: {messages[0]}", field=field)
    return InvalidInput(exc.messages[0])


class TokenOut(serializers.ModelSerializer[Any]):
    lastUsedAt = serializers.DateTimeField(source="last_used_at", allow_null=True)
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)

    class Meta:
        model = ApiToken
        fields: tuple[str, ...] = ("id", "name", "role", "created", "lastUsedAt", "expiresAt", "revokedAt")


class IssuedTokenOut(TokenOut):
    token = serializers.CharField(help_text="the bearer token; shown this once")

    class Meta(TokenOut.Meta):
        fields = (*TokenOut.Meta.fields, "token")


def _list_tokens(principal: Principal) -> Any:
    return TokenOut(selectors.tokens_for(tenant=_tenant(principal)), many=True).data


def _issue_token(principal: Principal, body: Values) -> dict[str, Any]:
    try:
        issued = services.issue_token(tenant=_tenant(principal), name=body["name"], role=body["role"],
                                      expires_in_days=body["expiresInDays"], actor=principal.actor)  # fmt: skip
    except ValidationError as exc:
        raise _invalid(exc) from None
    return {**TokenOut(issued.token_row).data, "token": issued.bearer}


def _revoke_token(principal: Principal, token_id: int) -> Any:
    return TokenOut(services.revoke_token(token_id=token_id, tenant=_tenant(principal), actor=principal.actor)).data


@endpoint("GET", roles=ADMIN, operation="admin", tags=TAGS, responses={200: TokenOut(many=True)},
          summary="The tenant's API tokens", operation_id="tokens_list")  # fmt: skip
async def list_tokens(request: HttpRequest, principal: Principal) -> HttpResponse:
    return json_response(await db.run(_list_tokens, principal))


@endpoint("POST", roles=ADMIN, operation="admin", body=inputs.TokenBody, tags=TAGS, responses={201: IssuedTokenOut},
          summary="Issue a token (its bearer is shown this once)", operation_id="tokens_issue")  # fmt: skip
async def issue_token(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    return json_response(await db.run(_issue_token, principal, body), 201)


@endpoint("DELETE", roles=ADMIN, operation="admin", tags=TAGS, responses={200: TokenOut}, raises=(404,),
          summary="Revoke a token", operation_id="tokens_revoke")  # fmt: skip
async def revoke_token(request: HttpRequest, principal: Principal, token_id: int) -> HttpResponse:
    return json_response(await db.run(_revoke_token, principal, token_id))


class WebhookOut(serializers.ModelSerializer[Any]):
    pausedReason = serializers.CharField(source="paused_reason")
    previousSecretExpiresAt = serializers.DateTimeField(source="previous_secret_expires_at", allow_null=True)

    class Meta:
        model = WebhookSubscription
        fields: tuple[str, ...] = ("id", "url", "events", "commands", "active", "pausedReason", "created",
                                   "previousSecretExpiresAt")  # fmt: skip


class CreatedWebhookOut(WebhookOut):
    secret = serializers.CharField(help_text="the signing secret; shown this once")

    class Meta(WebhookOut.Meta):
        fields = (*WebhookOut.Meta.fields, "secret")


ROTATED = inline_serializer(
    "Rotated",
    {"secret": serializers.CharField(), "previousSecretExpiresAt": serializers.DateTimeField(allow_null=True)},
)


def _subscription(principal: Principal, subscription_id: int) -> WebhookSubscription:
    return webhook_selectors.webhook_subscription_for(tenant=_tenant(principal), subscription_id=subscription_id)


def _list_webhooks(principal: Principal) -> Any:
    return WebhookOut(webhook_selectors.webhook_subscriptions_for(tenant=_tenant(principal)), many=True).data


def _create_webhook(principal: Principal, body: Values) -> dict[str, Any]:
    try:
        created = webhook_services.create_webhook_subscription(tenant=_tenant(principal), url=body["url"],
                                                               events=body["events"], commands=body["commands"],
                                                               actor=principal.actor)  # fmt: skip
    except ValidationError as exc:
        raise _invalid(exc) from None
    return {**WebhookOut(created.subscription).data, "secret": created.secret}


def _rotate_webhook(principal: Principal, subscription_id: int, grace: int) -> dict[str, Any]:
    sub = _subscription(principal, subscription_id)
    secret = webhook_services.rotate_webhook_secret(subscription=sub, grace_seconds=grace, actor=principal.actor)
    sub.refresh_from_db()
    return {"secret": secret, "previousSecretExpiresAt": sub.previous_secret_expires_at}


def _get_webhook(principal: Principal, subscription_id: int) -> Any:
    return WebhookOut(_subscription(principal, subscription_id)).data


def _update_webhook(principal: Principal, subscription_id: int, body: Values) -> Any:
    sub = _subscription(principal, subscription_id)
    changes = {"url": sub.url, "events": sub.events, "commands": sub.commands, "active": sub.active,
               **{name: value for name, value in body.items() if value is not None}}  # fmt: skip
    try:
        sub = webhook_services.update_webhook_subscription(subscription=sub, actor=principal.actor, **changes)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return WebhookOut(sub).data


def _delete_webhook(principal: Principal, subscription_id: int) -> None:
    webhook_services.delete_webhook_subscription(subscription=_subscription(principal, subscription_id),
                                                 actor=principal.actor)  # fmt: skip


@endpoint("GET", roles=ADMIN, operation="admin", tags=TAGS, responses={200: WebhookOut(many=True)},
          summary="The tenant's webhook subscriptions", operation_id="webhooks_list")  # fmt: skip
async def list_webhooks(request: HttpRequest, principal: Principal) -> HttpResponse:
    return json_response(await db.run(_list_webhooks, principal))


@endpoint("POST", roles=ADMIN, operation="admin", body=inputs.WebhookBody, tags=TAGS,
          responses={201: CreatedWebhookOut}, summary="Subscribe a URL to events (its secret is shown this once)",
          operation_id="webhooks_create")  # fmt: skip
async def create_webhook(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    return json_response(await db.run(_create_webhook, principal, body), 201)


@endpoint("POST", roles=ADMIN, operation="admin", body=inputs.RotateBody, tags=TAGS, responses={200: ROTATED},
          raises=(404,), summary="A new signing secret; the old one keeps signing for graceSeconds",
          operation_id="webhooks_rotate")  # fmt: skip
async def rotate_webhook(request: HttpRequest, principal: Principal, subscription_id: int,
                         body: Values) -> HttpResponse:  # fmt: skip
    return json_response(await db.run(_rotate_webhook, principal, subscription_id, body["graceSeconds"]))


@endpoint("GET", roles=ADMIN, operation="admin", tags=TAGS, responses={200: WebhookOut}, raises=(404,),
          summary="One webhook subscription", operation_id="webhooks_get")  # fmt: skip
async def get_webhook(request: HttpRequest, principal: Principal, subscription_id: int) -> HttpResponse:
    return json_response(await db.run(_get_webhook, principal, subscription_id))


@endpoint("PATCH", roles=ADMIN, operation="admin", body=inputs.WebhookPatchBody, tags=TAGS,
          responses={200: WebhookOut}, raises=(404,), summary="Change a webhook subscription",
          description="Change url, events, commands or active; active=true clears pausedReason.",
          operation_id="webhooks_update")  # fmt: skip
async def update_webhook(request: HttpRequest, principal: Principal, subscription_id: int,
                         body: Values) -> HttpResponse:  # fmt: skip
    return json_response(await db.run(_update_webhook, principal, subscription_id, body))


@endpoint("DELETE", roles=ADMIN, operation="admin", tags=TAGS, responses={204: None}, raises=(404,),
          summary="Delete a webhook subscription", operation_id="webhooks_delete")  # fmt: skip
async def delete_webhook(request: HttpRequest, principal: Principal, subscription_id: int) -> HttpResponse:
    await db.run(_delete_webhook, principal, subscription_id)
    return HttpResponse(status=204)


tokens = by_method(GET=list_tokens, POST=issue_token)
webhooks = by_method(GET=list_webhooks, POST=create_webhook)
webhook = by_method(GET=get_webhook, PATCH=update_webhook, DELETE=delete_webhook)
