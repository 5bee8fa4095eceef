"""The monthly task quota on the create path: one pipelined read of this month's created counters.

A tenant without a quota pays nothing. With one, a create that would pass it answers 429
``quota_exceeded`` with the next month's start; every create answers ``X-Quota-Limit`` and
``X-Quota-Remaining``. Concurrent creates may pass the quota by the tasks in flight at that moment.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpResponse

from codeq_platform import errors
from codeq_platform.api.auth import Principal
from codeq_platform.base import kv
from codeq_platform.engine.keys import keyspace, usage_field
from tenants.usage import month_days


async def used_before(principal: Principal, creating: int) -> int | None:
    """Tasks created this month, or None without a quota; raises QuotaExceeded if ``creating`` more
    tasks would pass it."""
    limit = principal.monthly_task_quota
    if not limit:
        return None
    days, resets_at = month_days()
    fields = [usage_field(day, "created") for day in days]
    ks = keyspace(settings.CODEQ_KV_PREFIX, principal.tenant_slug, principal.shards)
    replies = await kv.async_engine().link.execute_many(
        [("HMGET", ks.key(shard, "stats"), *fields) for shard in range(principal.shards)]
    )
    used = sum(int(value) for reply in replies for value in reply if value is not None)
    if used + creating > limit:
        raise errors.QuotaExceeded(
            f"monthly task quota of {limit} exceeded", limit=limit, resets_at=resets_at,
            retry_after=max(resets_at - int(time.time()), 1),
        )  # fmt: skip
    return used


def add_headers(response: HttpResponse, principal: Principal, used: int | None, created: int) -> HttpResponse:
    if used is not None:
        response["X-Quota-Limit"] = str(principal.monthly_task_quota)
        response["X-Quota-Remaining"] = str(max(principal.monthly_task_quota - used - created, 0))
    return response
