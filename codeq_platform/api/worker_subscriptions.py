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

import contextlib
import ipaddress
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from codeq_platform import errors
from codeq_platform.api import docs, inputs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, WORK, endpoint, read_json
from codeq_platform.api.errors import json_response
from codeq_platform.base import kv
from codeq_platform.base.representations import rfc3339
from codeq_platform.engine.core import validate_command
from codeq_platform.engine.keys import SubscriptionKeys
from codeq_platform.webhooks import subscriptions as store
from codeq_platform.webhooks.guard import is_public
from codeq_platform.webhooks.subscriptions import WorkerSubscription

DEFAULT_TTL_SECONDS = 300
MAX_TTL_SECONDS = 86_400
DEFAULT_INTERVAL_SECONDS = 5
MAX_INTERVAL_SECONDS = 3600


def _now_ms() -> int:
    return int(time.time() * 1000)


def _keys(principal: Principal) -> SubscriptionKeys:
    return SubscriptionKeys(kv.async_engine().config.prefix, principal.tenant_slug)


def _callback_url(value: Any) -> str:
    """An http(s) URL with a host. A literal private address is refused here already unless the
    deployment allows private targets; names are checked when each wake-up is sent (DNS can change)."""
    if value is None or value == "":
        raise errors.InvalidInput("callbackUrl is required", field="callbackUrl")
    if not isinstance(value, str) or len(value) > 2048:
        raise errors.InvalidInput("invalid callbackUrl (an http(s) URL)", field="callbackUrl")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (a bad port raises only when read)
    except ValueError:
        raise errors.InvalidInput("invalid callbackUrl (an http(s) URL)", field="callbackUrl") from None
    if parts.scheme not in ("http", "https") or not host:
        raise errors.InvalidInput("invalid callbackUrl (an http(s) URL)", field="callbackUrl")
    if not settings.CODEQ_WEBHOOK_ALLOW_PRIVATE:
        with contextlib.suppress(ValueError):  # a name, not an address
            if not is_public(ipaddress.ip_address(host)):
                raise errors.InvalidInput("callbackUrl is not a public address", field="callbackUrl")
    return value


def _event_types(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 100 or not all(isinstance(v, str) for v in value):
        raise errors.InvalidInput("invalid 'eventTypes' (a list of at most 100 commands)", field="eventTypes")
    if not value or "*" in value:
        return ()
    return tuple(dict.fromkeys(validate_command(v, "eventTypes") for v in value))


def _subscription(data: Any, principal: Principal, now_ms: int) -> WorkerSubscription:
    data = inputs.require_object(data)
    mode = data.get("deliveryMode") or "fanout"
    if mode not in store.MODES:
        raise errors.InvalidInput("invalid 'deliveryMode' (fanout, group or hash)", field="deliveryMode")
    group_id = inputs.string(data, "groupId")
    if mode == "group" and not group_id:
        raise errors.InvalidInput("groupId is required when deliveryMode=group", field="groupId")
    ttl = inputs.integer(data, "ttlSeconds", DEFAULT_TTL_SECONDS, 1, MAX_TTL_SECONDS)
    interval = inputs.integer(data, "minIntervalSeconds", DEFAULT_INTERVAL_SECONDS, 1, MAX_INTERVAL_SECONDS)
    return WorkerSubscription(
        id=str(uuid.uuid4()),
        callback_url=_callback_url(data.get("callbackUrl")),
        event_types=_event_types(data.get("eventTypes")),
        delivery_mode=mode,
        group_id=group_id if mode == "group" else "",
        min_interval_seconds=interval,
        ttl_seconds=ttl,
        created_ms=now_ms,
        created_by=principal.actor,
        expires_ms=now_ms + ttl * 1000,
    )


def _known_id(subscription_id: str) -> str:
    """Ids are server-made UUIDs; anything else cannot name a subscription."""
    try:
        return str(uuid.UUID(subscription_id))
    except ValueError:
        raise errors.NotFound("subscription not found") from None


def _lease(subscription_id: str, expires_ms: int) -> HttpResponse:
    return json_response({"subscriptionId": subscription_id, "expiresAt": rfc3339(expires_ms)})


@endpoint(methods=("POST",), roles=WORK, operation="subscribe", doc=docs.Subscribe)
async def subscribe(request: HttpRequest, principal: Principal) -> HttpResponse:
    now_ms = _now_ms()
    sub = _subscription(read_json(request, principal.max_body_bytes), principal, now_ms)
    await store.subscribe(kv.async_engine().link, _keys(principal), sub, now_ms=now_ms)
    return _lease(sub.id, sub.expires_ms)


@endpoint(methods=("POST",), roles=WORK, operation="subscribe", doc=docs.SubscriptionHeartbeat)
async def heartbeat(request: HttpRequest, principal: Principal, subscription_id: str) -> HttpResponse:
    data = inputs.require_object(read_json(request, principal.max_body_bytes))
    ttl = inputs.integer(data, "ttlSeconds", 0, 1, MAX_TTL_SECONDS)
    known = _known_id(subscription_id)
    expires = await store.extend(kv.async_engine().link, _keys(principal), known, ttl_seconds=ttl, now_ms=_now_ms())
    return _lease(known, expires)


@endpoint(methods=("DELETE",), roles=WORK, operation="subscribe", doc=docs.Unsubscribe)
async def unsubscribe(request: HttpRequest, principal: Principal, subscription_id: str) -> HttpResponse:
    known = _known_id(subscription_id)
    await store.remove(kv.async_engine().link, _keys(principal), known, now_ms=_now_ms())
    return HttpResponse(status=204)


@endpoint(methods=("GET",), roles=ADMIN, operation="admin", doc=docs.WorkerSubscriptions)
async def listing(request: HttpRequest, principal: Principal) -> HttpResponse:
    subs = await store.live(kv.async_engine().link, _keys(principal), now_ms=_now_ms())
    return json_response({"subscriptions": [
        {"subscriptionId": s.id, "callbackUrl": s.callback_url, "eventTypes": list(s.event_types),
         "deliveryMode": s.delivery_mode, "groupId": s.group_id or None,
         "minIntervalSeconds": s.min_interval_seconds, "ttlSeconds": s.ttl_seconds,
         "createdAt": rfc3339(s.created_ms), "expiresAt": rfc3339(s.expires_ms), "createdBy": s.created_by}
        for s in subs
    ]})  # fmt: skip
