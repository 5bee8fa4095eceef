"""What a type checker sees of the two faces; checked by mypy in ``make lint`` (strict), never run.

Each ``assert_type`` fails the check if a method's static type drifts: an ``AsyncClient`` method typed as
the sync client's (``Task`` rather than a coroutine of it) is an error here. ``test_typing.py`` checks every
route of both faces the same way.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

import codeq
from codeq.models import ItemError, Nacked, QueueCounts, TaskPage, TaskResult


def sync_face(client: codeq.Client) -> None:
    assert_type(client.create("media.resize", {"w": 64}), codeq.Task)
    assert_type(client.result("t-1", wait=5), TaskResult | None)
    assert_type(client.claim(["media.resize"]), codeq.Task | None)
    assert_type(client.heartbeat("t-1"), None)
    assert_type(client.dlq("media.resize"), TaskPage)


async def async_face(client: codeq.AsyncClient) -> None:
    pending = assert_type(client.create("media.resize", {"w": 64}), Coroutine[Any, Any, codeq.Task])
    pending.close()  # never awaited: its type is the point
    assert_type(await client.create("media.resize", {"w": 64}), codeq.Task)
    assert_type(await client.create_batch([{"command": "media.resize"}]), list[codeq.Task | ItemError])
    assert_type(await client.result("t-1", wait=5), TaskResult | None)
    assert_type(await client.claim_batch(10, ["media.resize"]), list[codeq.Task])
    assert_type(await client.nack("t-1", delay_seconds=30), Nacked)
    assert_type(await client.heartbeat("t-1"), None)
    assert_type(await client.queues(), dict[str, QueueCounts])
    assert_type(await client.dlq("media.resize"), TaskPage)
