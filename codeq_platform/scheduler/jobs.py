"""The scheduler's jobs: lease-expiry and delayed-task sweeps, and retention.

The sweep follows the engine's activity index (``codeq_platform/engine/activity.py``): it visits only
the shards with a lease expired or a delayed task due, however many tenants there are. Retention walks
every tenant once a minute and repairs the index on the way. A job that raises is logged with its
context and simply runs again at its next tick.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable

from codeq_platform.base import kv
from codeq_platform.engine import activity
from codeq_platform.errors import CodeqError
from tenants import selectors

log = logging.getLogger("codeq.scheduler")

# Shards a sweep tick visits at most; more due ones wait for the next tick.
SWEEP_SHARDS = 1000
# Tenants idle this long leave the activity index's active set (retention).
ACTIVE_KEEP_MS = 86_400_000
RECONCILE_CHUNK = 500


def now_ms() -> int:
    return int(time.time() * 1000)


def active_tenants() -> list:
    tenants = list(selectors.all_tenants().filter(active=True))
    for tenant in tenants:
        kv.register_tenant(tenant.slug, tenant.shards)
    return tenants


def tenants_named(slugs: Iterable[str]) -> dict:
    """The active tenants among ``slugs`` (one query), registered with the engines: {slug: tenant}."""
    found = selectors.active_tenants_among(slugs)
    for tenant in found.values():
        kv.register_tenant(tenant.slug, tenant.shards)
    return found


def sweep() -> int:
    """Expire leases and promote due delayed tasks in every shard the activity index says has some;
    returns tasks moved. A shard of a tenant that is switched off or gone leaves the index."""
    engine = kv.sync_engine()
    prefix = engine.config.prefix
    read_ms = now_ms()
    due = engine.run(activity.due_shards(prefix, read_ms, SWEEP_SHARDS))
    if not due:
        return 0
    tenants = tenants_named({tenant for tenant, _, _ in due})
    by_tenant: dict[str, list[tuple[int, str]]] = defaultdict(list)
    gone = []
    for tenant, shard, touch in due:
        if tenant in tenants and shard < tenants[tenant].shards:
            by_tenant[tenant].append((shard, touch))
        else:
            gone.append((tenant, shard, touch, None))
    moved = 0
    swept = []
    for tenant, shards in by_tenant.items():
        try:
            report = engine.sweep(tenant, shards=[shard for shard, _ in shards])
        except CodeqError:
            log.exception("sweep failed for tenant %s", tenant)
            continue
        moved += report.expired + report.promoted
        swept += [(tenant, shard, touch) for shard, touch in shards]
    heads = engine.run(activity.heads(engine.core, [(tenant, shard) for tenant, shard, _ in swept]))
    entries = [(tenant, shard, touch, head) for (tenant, shard, touch), head in zip(swept, heads, strict=True)]
    engine.run(activity.settle(prefix, read_ms, entries + gone))
    return moved


def retention() -> int:
    """Remove finished tasks and DLQ entries past their tenant's retention, and forget the commands
    that have had nothing for that long; returns tasks removed. On the way, every tenant shard's
    earliest lease or due time goes into the activity index again (repairing a write lost to a
    crash), and tenants idle for a day leave its active set."""
    engine = kv.sync_engine()
    started_ms = now_ms()
    removed = 0
    tenants = active_tenants()
    for tenant in tenants:
        try:
            while True:
                moved = engine.trim(
                    tenant.slug,
                    finished_older_than_ms=tenant.result_retention_seconds * 1000,
                    dead_older_than_ms=tenant.dlq_retention_seconds * 1000,
                    limit=1000,
                    forget_older_than_ms=tenant.result_retention_seconds * 1000,
                )
                removed += moved.count
                if not moved.remaining:
                    break
        except CodeqError:
            log.exception("retention failed for tenant %s", tenant.slug)
    shards = [(tenant.slug, shard) for tenant in tenants for shard in range(tenant.shards)]
    for start in range(0, len(shards), RECONCILE_CHUNK):
        engine.run(activity.reconcile(engine.core, shards[start : start + RECONCILE_CHUNK]))
    engine.run(activity.forget_before(engine.config.prefix, started_ms - ACTIVE_KEEP_MS))
    engine.run(activity.forget_watchers(engine.config.prefix, started_ms))
    return removed
