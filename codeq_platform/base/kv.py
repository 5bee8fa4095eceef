"""The process's engines, built once from settings: one sync engine, one asyncio engine per loop.

Tenants' shard counts are shared by every engine of the process (``register_tenant``).
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from django.conf import settings

from codeq_platform.engine import AsyncEngine, Engine, EngineConfig, connect, connect_async
from codeq_platform.engine.store import TLS

_TENANT_SHARDS: dict[str, int] = {}
_lock = threading.Lock()
_sync: Engine | None = None
_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine] = weakref.WeakKeyDictionary()


def engine_config() -> EngineConfig:
    """The engine's limits and tunables from settings."""
    return EngineConfig(
        prefix=settings.CODEQ_KV_PREFIX,
        max_payload_bytes=settings.CODEQ_MAX_PAYLOAD_BYTES,
        backoff_base_ms=settings.CODEQ_BACKOFF_BASE_SECONDS * 1000,
        backoff_cap_ms=settings.CODEQ_BACKOFF_CAP_SECONDS * 1000,
    )


def tls() -> TLS:
    """The TLS files every client of a ``rediss://`` store uses."""
    return TLS(settings.CODEQ_KV_TLS_CA_FILE, settings.CODEQ_KV_TLS_CERT_FILE, settings.CODEQ_KV_TLS_KEY_FILE)


def sync_engine() -> Engine:
    """The process's synchronous engine (thread-safe: one connection per thread)."""
    global _sync
    with _lock:
        if _sync is None:
            _sync = Engine(connect(settings.CODEQ_KV_URL, tls()), engine_config())
            _sync.core.tenant_shards = _TENANT_SHARDS
        return _sync


def async_engine() -> AsyncEngine:
    """The asyncio engine of the running event loop (its connection belongs to that loop)."""
    loop = asyncio.get_running_loop()
    engine = _async.get(loop)
    if engine is None:
        engine = AsyncEngine(connect_async(settings.CODEQ_KV_URL, tls()), engine_config())
        engine.core.tenant_shards = _TENANT_SHARDS
        _async[loop] = engine
    return engine


def register_tenant(slug: str, shards: int) -> None:
    """Tell every engine of the process how many shards ``slug``'s keys are spread over."""
    _TENANT_SHARDS[slug] = shards


def reset() -> None:
    """Forget the engines (tests that point settings at another store use it)."""
    global _sync
    with _lock:
        if _sync is not None:
            _sync.close()
        _sync = None
    _async.clear()
