"""Operator actions on a whole command's queue: pause and resume claims of it, audited."""

from __future__ import annotations

from codeq_platform.base import kv
from codeq_platform.engine import QueueSettings
from codeq_platform.engine.core import validate_command
from tenants import services
from tenants.models import Tenant


def set_paused(*, tenant: Tenant, command: str, paused: bool, actor: str) -> QueueSettings:
    """Pause (claims skip the command; enqueues are still taken) or resume ``command``, and audit it."""
    cmd = validate_command(command)
    kv.register_tenant(tenant.slug, tenant.shards)
    engine = kv.sync_engine()
    settings = engine.pause_queue(tenant.slug, cmd) if paused else engine.resume_queue(tenant.slug, cmd)
    services.record_audit(tenant=tenant, actor=actor, action="queue.pause" if paused else "queue.resume", target=cmd)
    return settings
