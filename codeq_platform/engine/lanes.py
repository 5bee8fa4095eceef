"""Group commit for the asyncio face: settle calls made together reach the store as one script.

The web process serves many workers at once, and each result it stores (``complete`` / ``fail``, with
or without a claim of the worker's next tasks) is one script call. A *lane* is one shard of one tenant
and one list of next commands. The calls a lane gets in one turn of the event loop (the workers whose
answers arrived together, say) go out at the end of that turn: one alone as its own call, several as
``settle_batch`` calls of up to ``GROUP`` reports that claim at most ``CLAIMED`` next tasks in all.
Nothing waits for anything but the current turn, and groups in flight are pipelined as single calls
were, so the store runs one group while the process reads the answers of the one before. A group pays
one script's fixed cost for all its results instead of one per result, which is what a store that runs
one script at a time and charges by the key (KVRocks) needs.

Each report keeps its own answer (code, record, next tasks), exactly what its own call would have
given; a store error reaches every caller of the group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

SETTLES = frozenset({"complete", "fail"})
GROUP = 16  # reports per call at most: larger groups amortise more, smaller ones overlap more
CLAIMED = 1000  # next tasks a group claims at most, as one call may (the scripts unpack them in one go)
HEADER = 6  # now, seed, backoff base, backoff cap, wake channel, number of commands (lib.lua)

Send = Callable[[str, list[str], list[Any]], Awaitable[Any]]
Waiting = list[tuple[str, list[Any], "asyncio.Future[Any]"]]


class Lanes:
    """The settle lanes of one asyncio engine; ``send`` makes one script call."""

    def __init__(self, send: Send, group: int = GROUP) -> None:
        self._send = send
        self._group = group
        self._lanes: dict[tuple[Any, ...], tuple[list[str], Waiting, asyncio.AbstractEventLoop]] = {}
        self._flights: set[asyncio.Task[None]] = set()

    async def settle(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """The reply of the ``complete`` or ``fail`` script call ``name(keys, args)``."""
        head = HEADER + int(args[HEADER - 1])
        lane_key = (keys[0], *args[HEADER:head])
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(lane_key)
        if lane is None or lane[2] is not loop:  # another loop's lane (one that closed before its turn ended)
            lane = self._lanes[lane_key] = (keys, [], loop)
            loop.call_soon(self._flush, lane_key, lane)
        answer: asyncio.Future[Any] = loop.create_future()
        lane[1].append((name, args, answer))
        return await answer

    def _flush(self, lane_key: tuple[Any, ...], lane: tuple[list[str], Waiting, asyncio.AbstractEventLoop]) -> None:
        if self._lanes.get(lane_key) is lane:
            del self._lanes[lane_key]
        keys, waiting, _ = lane
        waiting = [each for each in waiting if not each[2].done()]  # a caller cancelled in the turn sends nothing
        loop = asyncio.get_running_loop()
        group: Waiting = []
        claimed = 0
        for each in waiting:
            args = each[1]
            want = int(args[HEADER + int(args[HEADER - 1]) + 8])
            if group and (len(group) == self._group or claimed + want > CLAIMED):
                self._launch(loop, keys, group)
                group, claimed = [], 0
            group.append(each)
            claimed += want
        if group:
            self._launch(loop, keys, group)

    def _launch(self, loop: asyncio.AbstractEventLoop, keys: list[str], group: Waiting) -> None:
        flight = loop.create_task(self._fly(keys, group))
        self._flights.add(flight)
        flight.add_done_callback(self._flights.discard)

    async def _fly(self, keys: list[str], group: Waiting) -> None:
        name, args, _ = group[0]
        if len(group) > 1:
            head = HEADER + int(args[HEADER - 1])
            reports: list[Any] = []
            for _, each, _ in group:
                reports += each[head + 2 : head + 9]
            lazy = max(int(each[head]) for _, each, _ in group)
            name, args = "settle_batch", [*args[:head], len(group), lazy, args[head + 1], *reports]
        try:
            reply = await self._send(name, keys, args)
        except asyncio.CancelledError:
            for _, _, answer in group:
                answer.cancel()
            raise
        except Exception as exc:  # every caller of the group gets the store's answer
            for _, _, answer in group:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for (_, _, answer), each_reply in zip(group, reply if len(group) > 1 else [reply], strict=True):
            if not answer.done():
                answer.set_result(each_reply)
