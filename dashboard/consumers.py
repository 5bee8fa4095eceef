"""The console's websockets: a tenant's stats snapshots (overview, queue and DLQ counts), one task's
status, and a page of leases, each after a membership check.

``StatsConsumer`` relays what the scheduler publishes. The group joined is derived from the URL's
tenant only once ``access_for`` has accepted the session's user for it, and the socket takes no
instructions from the browser, so another tenant's group can never be joined. Every socket lives for
hours: the check is repeated every ``RECHECK_SECONDS``, so a deactivated user or an expired session
ends the stream within that time. A logout of its session, a sign-out everywhere (by the user, by
staff, or after a password change or the last membership's removal) and a change of its user's
memberships reach it at once: every socket listens on its user's sessions group. It closes with
``SIGNED_OUT`` when its session has ended and ``NO_ACCESS`` when the tenant is no longer the user's to
see, so the page says so instead of reconnecting. While it is open the stats socket registers its
tenant as watched (renewed every ``WATCH_RENEW_MS``), so the stats job keeps sending snapshots of a
tenant with no activity.

``TaskConsumer`` and ``LeasesConsumer`` follow one task, or one page of leases (the command filter and
cursor of the page that opened them), reading it every ``POLL_SECONDS`` through the engine (one record,
or one bounded page) and sending it only when it changed; the browser patches its page in place. They
take nothing from the browser but the URL's tenant and task id and the page's filter, each validated by
the engine like any request's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django_otp import DEVICE_ID_SESSION_KEY

from codeq_platform.base import kv
from codeq_platform.engine import activity
from codeq_platform.errors import InvalidInput, NotFound, StoreUnavailable
from codeq_platform.scheduler.stats import WATCH_MS, WATCH_RENEW_MS, group_name
from dashboard.access import NoAccess, access_for
from dashboard.middleware import session_is_current
from tenants import second_factor
from tenants.selectors import sessions_group
from tenants.services import session_fingerprint

log = logging.getLogger("codeq.dashboard")

SIGNED_OUT = 4401
NO_ACCESS = 4403


class MemberSocket(AsyncJsonWebsocketConsumer, ABC):
    """A socket of a signed-in member of the URL's tenant, closed once they may no longer see it."""

    RECHECK_SECONDS = 10.0
    user_group: str | None = None
    recheck_at = 0.0

    async def connect(self) -> None:
        self.slug = self.scope["url_route"]["kwargs"]["tenant"]
        if await database_sync_to_async(self._refusal)() is not None:
            await self.close()
            return
        self.recheck_at = time.monotonic() + self.RECHECK_SECONDS
        self.user_group = sessions_group(user_id=self.scope["user"].pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        await self.started()

    @abstractmethod
    async def started(self) -> None:
        """What the socket does once accepted."""

    async def disconnect(self, code: int) -> None:
        if self.user_group is not None:
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def sessions_ended(self, event: dict) -> None:
        """The user was signed out everywhere: this socket's session has ended."""
        await self.close(code=SIGNED_OUT)

    async def session_ended(self, event: dict) -> None:
        """One of the user's sessions was logged out: this socket ends if it was this one."""
        session = self.scope.get("session")
        if session is not None and session.session_key and event["session"] == session_fingerprint(session.session_key):
            await self.close(code=SIGNED_OUT)

    async def access_changed(self, event: dict) -> None:
        """The user's memberships changed: check again now."""
        await self._recheck()

    async def still_allowed(self) -> bool:
        """Repeat the membership check when it is due; close the socket when it fails."""
        return time.monotonic() < self.recheck_at or await self._recheck()

    async def _recheck(self) -> bool:
        """Check the session and access again; close the socket (False) when either has ended."""
        refusal = await database_sync_to_async(self._refusal)()
        if refusal is not None:
            await self.close(code=refusal)
            return False
        self.recheck_at = time.monotonic() + self.RECHECK_SECONDS
        return True

    def _refusal(self) -> int | None:
        """None while the session still exists, has not expired nor been signed out, owes no second factor,
        and its user may see the tenant; else the close code that says which ended."""
        user, session = self.scope["user"], self.scope.get("session")
        if session is None or not user.is_authenticated:
            return SIGNED_OUT
        # read afresh: the scope's copy is from the handshake
        current = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
        if not current.load() or not session_is_current(current, user.pk):
            return SIGNED_OUT
        if second_factor.pending_step(user, current.get(DEVICE_ID_SESSION_KEY)) is not None:
            return SIGNED_OUT
        try:
            user.refresh_from_db()
            access_for(user, self.slug)
        except (NoAccess, ObjectDoesNotExist):
            return NO_ACCESS
        return None


class StatsConsumer(MemberSocket):
    group: str | None = None
    watching: asyncio.Task[None] | None = None

    async def started(self) -> None:
        self.group = group_name(self.slug)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.watching = asyncio.create_task(self._watch())

    async def disconnect(self, code: int) -> None:
        if self.watching is not None:
            self.watching.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        await super().disconnect(code)

    async def _watch(self) -> None:
        while True:
            until = int(time.time() * 1000) + WATCH_MS
            try:
                await kv.async_engine().run(activity.watch(settings.CODEQ_KV_PREFIX, self.slug, until))
            except StoreUnavailable as exc:  # tried again at the next renewal
                log.warning("could not register the overview of %s as watched: %s", self.slug, exc)
            await asyncio.sleep(WATCH_RENEW_MS / 1000)

    async def stats_snapshot(self, event: dict) -> None:
        if await self.still_allowed():
            await self.send_json(event["snapshot"])


class PollingSocket(MemberSocket):
    """Reads what its page shows every ``POLL_SECONDS`` and sends it when it changed."""

    POLL_SECONDS = 1.0
    polling: asyncio.Task[None] | None = None

    async def started(self) -> None:
        self.polling = asyncio.create_task(self._poll())

    async def disconnect(self, code: int) -> None:
        if self.polling is not None:
            self.polling.cancel()
        await super().disconnect(code)

    @abstractmethod
    async def read(self) -> dict[str, Any]:
        """What the page shows, as JSON; NotFound when it is gone."""

    async def _poll(self) -> None:
        last: dict[str, Any] | None = None
        while await self.still_allowed():
            try:
                now = await self.read()
            except StoreUnavailable:  # the page keeps what it shows; the next poll tries again
                now = last
            except (NotFound, InvalidInput):
                now = {"gone": True}
            if now is not None and now != last:
                await self.send_json(now)
                last = now
            await asyncio.sleep(self.POLL_SECONDS)


def _lease_row(task: Any) -> dict[str, Any]:
    return {"id": task.id, "command": task.command, "worker_id": task.worker_id, "attempts": task.attempts,
            "max_attempts": task.max_attempts, "lease_until_ms": task.lease_until_ms}  # fmt: skip


class TaskConsumer(PollingSocket):
    """One task's status for its page."""

    async def read(self) -> dict[str, Any]:
        task = await kv.async_engine().get_task(self.slug, self.scope["url_route"]["kwargs"]["task_id"])
        return {"status": task.status, "state": task.state.value, "attempts": task.attempts,
                "max_attempts": task.max_attempts, "updated_ms": task.updated_ms, "worker_id": task.worker_id,
                "lease_until_ms": task.lease_until_ms}  # fmt: skip


class LeasesConsumer(PollingSocket):
    """The leases page as its filter and cursor show it."""

    async def read(self) -> dict[str, Any]:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        command = query.get("command", [""])[0].strip()
        cursor = query.get("cursor", [""])[0] or None
        page = await kv.async_engine().leases(self.slug, limit=50, cursor=cursor, command=command)
        return {"leases": [_lease_row(t) for t in page.tasks]}
