"""Worker subscriptions (reference §5): where an idle worker asks to be woken when work arrives.

Where the contract is silent:

- ``eventTypes`` lists commands (matched case-insensitively); absent, empty or containing ``"*"``
  means every command of the tenant, as codeQ's ``*``.
- ``callbackUrl`` must be http(s); a literal loopback, private or link-local address is refused
  (400) unless ``CODEQ_WEBHOOK_ALLOW_PRIVATE`` allows it; a name is checked at every delivery.
- ``ttlSeconds`` 1-86400 (default 300); a heartbeat without ``ttlSeconds`` extends by the TTL the
  subscription was created with. ``minIntervalSeconds`` 1-3600 (default 5).
- ``groupId`` (1-200 characters) is required for ``group`` and ignored by the other modes.
- Subscriptions belong to the tenant, not to one token: any worker (or admin) token of the tenant may
  heartbeat or remove one (``DELETE``, 204); another tenant's is 404, like an unknown or lapsed one.
  Admins list the live ones at ``GET /admin/workers/subscriptions``. A tenant has at most 1,000 live.
"""

from __future__ import annotations

import time
import uuid

from django.http import HttpRequest, HttpResponse

from codeq_platform import errors
from codeq_platform.api import inputs, outputs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, WORK, Values, endpoint
from codeq_platform.api.errors import json_response
from codeq_platform.base import kv
from codeq_platform.base.representations import rfc3339
from codeq_platform.engine.keys import SubscriptionKeys
from codeq_platform.webhooks import subscriptions as store
from codeq_platform.webhooks.subscriptions import WorkerSubscription

WORKERS = ("workers",)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _keys(principal: Principal) -> SubscriptionKeys:
    return SubscriptionKeys(kv.async_engine().config.prefix, principal.tenant_slug)


def _subscription(body: Values, principal: Principal, now_ms: int) -> WorkerSubscription:
    mode = body["deliveryMode"]
    if mode == "group" and not body["groupId"]:
        raise errors.InvalidInput("groupId is required when deliveryMode=group", field="groupId")
    return WorkerSubscription(
        id=str(uuid.uuid4()),
        callback_url=body["callbackUrl"],
        event_types=body["eventTypes"],
        delivery_mode=mode,
        group_id=body["groupId"] if mode == "group" else "",
        min_interval_seconds=body["minIntervalSeconds"],
        ttl_seconds=body["ttlSeconds"],
        created_ms=now_ms,
        created_by=principal.actor,
        expires_ms=now_ms + body["ttlSeconds"] * 1000,
    )


def _known_id(subscription_id: str) -> str:
    """Ids are server-made UUIDs; anything else cannot name a subscription."""
    try:
        return str(uuid.UUID(subscription_id))
    except ValueError:
        raise errors.NotFound("subscription not found") from None


def _lease(subscription_id: str, expires_ms: int) -> HttpResponse:
    return json_response({"subscriptionId": subscription_id, "expiresAt": rfc3339(expires_ms)})


@endpoint("POST", roles=WORK, operation="subscribe", body=inputs.SubscribeBody, tags=WORKERS, raises=(409,),
          responses={200: outputs.SubscriptionLease},
          summary="Ask for wake-ups when a command's queue gets work (lapses after ttlSeconds)")  # fmt: skip
async def subscribe(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    now_ms = _now_ms()
    sub = _subscription(body, principal, now_ms)
    await store.subscribe(kv.async_engine().link, _keys(principal), sub, now_ms=now_ms)
    return _lease(sub.id, sub.expires_ms)


@endpoint("POST", roles=WORK, operation="subscribe", body=inputs.SubscriptionHeartbeatBody, tags=WORKERS,
          responses={200: outputs.SubscriptionLease}, raises=(404,),
          summary="Keep a subscription alive (absent ttlSeconds: the TTL it was created with)",
          operation_id="subscription_heartbeat")  # fmt: skip
async def heartbeat(request: HttpRequest, principal: Principal, subscription_id: str, body: Values) -> HttpResponse:
    ttl = body["ttlSeconds"]
    known = _known_id(subscription_id)
    expires = await store.extend(kv.async_engine().link, _keys(principal), known, ttl_seconds=ttl, now_ms=_now_ms())
    return _lease(known, expires)


@endpoint(
    "DELETE",
    roles=WORK,
    operation="subscribe",
    tags=WORKERS,
    responses={204: None},
    raises=(404,),
    summary="Remove a subscription before it lapses",
)
async def unsubscribe(request: HttpRequest, principal: Principal, subscription_id: str) -> HttpResponse:
    known = _known_id(subscription_id)
    await store.remove(kv.async_engine().link, _keys(principal), known, now_ms=_now_ms())
    return HttpResponse(status=204)


@endpoint(
    "GET",
    roles=ADMIN,
    operation="admin",
    tags=("admin",),
    responses={200: outputs.WorkerSubscriptionList},
    summary="The tenant's live worker subscriptions",
    operation_id="worker_subscriptions",
)
async def listing(request: HttpRequest, principal: Principal) -> HttpResponse:
    subs = await store.live(kv.async_engine().link, _keys(principal), now_ms=_now_ms())
    return json_response({"subscriptions": [
        {"subscriptionId": s.id, "callbackUrl": s.callback_url, "eventTypes": list(s.event_types),
         "deliveryMode": s.delivery_mode, "groupId": s.group_id or None,
         "minIntervalSeconds": s.min_interval_seconds, "ttlSeconds": s.ttl_seconds,
         "createdAt": rfc3339(s.created_ms), "expiresAt": rfc3339(s.expires_ms), "createdBy": s.created_by}
        for s in subs
    ]})  # fmt: skip
