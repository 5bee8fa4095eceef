"""The overview's websocket: relays a tenant's stats snapshots, after a membership check.

The group joined is derived from the URL's tenant only once ``access_for`` has accepted the session's
user for it, and the socket takes no instructions from the browser, so another tenant's group can
never be joined.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from codeq_platform.scheduler.stats import group_name
from dashboard.access import NoAccess, access_for


class StatsConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["tenant"]
        try:
            await database_sync_to_async(access_for)(self.scope["user"], slug)
        except NoAccess:
            await self.close()
            return
        self.group = group_name(slug)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def stats_snapshot(self, event: dict) -> None:
        await self.send_json(event["snapshot"])
