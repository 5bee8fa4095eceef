"""The scheduler's jobs: lease-expiry and delayed-task sweeps, and retention.

Each job walks the active tenants; a job that raises is logged with its context and simply runs
again at its next tick.
"""

from __future__ import annotations

import logging

from codeq_platform.base import kv
from codeq_platform.errors import CodeqError
from tenants import selectors

log = logging.getLogger("codeq.scheduler")


def active_tenants() -> list:
    tenants = list(selectors.all_tenants().filter(active=True))
    for tenant in tenants:
        kv.register_tenant(tenant.slug, tenant.shards)
    return tenants


def sweep() -> int:
    """Expire leases and promote due delayed tasks for every active tenant; returns tasks moved."""
    engine = kv.sync_engine()
    moved = 0
    for tenant in active_tenants():
        try:
            report = engine.sweep(tenant.slug)
        except CodeqError:
            log.exception("sweep failed for tenant %s", tenant.slug)
            continue
        moved += report.expired + report.promoted
    return moved


def retention() -> int:
    """Remove finished tasks and DLQ entries past their tenant's retention, and forget the commands
    that have had nothing for that long; returns tasks removed."""
    engine = kv.sync_engine()
    removed = 0
    for tenant in active_tenants():
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
    return removed
