"""Handlers by command: what a worker runs for each task it claims."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from codeq.models import Task


@dataclass(frozen=True)
class Handler:
    """A function for one command: ``fn(job)``, a coroutine function or a plain one (run on a thread).

    ``timeout`` bounds one run (seconds; None: unbounded); an exception of a ``permanent`` type ends the
    task ``FAILED`` instead of retrying it.
    """

    command: str
    fn: Callable[[Job], Any]
    timeout: float | None = None
    permanent: tuple[type[BaseException], ...] = ()

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)


class Job:
    """What a handler receives: the claimed task, its payload, and a way to publish progress."""

    def __init__(self, task: Task, publish: Callable[[str, Any], None]) -> None:
        self.task = task
        self._publish = publish

    @property
    def id(self) -> str:
        return self.task.id

    @property
    def payload(self) -> Any:
        return self.task.payload

    @property
    def attempts(self) -> int:
        """This delivery's number: 1 on the first run, 2 on the first retry..."""
        return self.task.attempts

    def progress(self, value: Any) -> None:
        """Publish progress (any JSON value) without waiting; callable from a coroutine or a thread. When
        several are published faster than they are sent, the latest wins."""
        self._publish(self.task.id, value)


class App:
    """A set of handlers, by command (matched case-insensitively, as the platform matches queues).

    Register with the decorator, ``@app.task("media.resize")``, or pass a dict ``{"media.resize": fn}``.
    """

    def __init__(self, handlers: Mapping[str, Callable[[Job], Any]] | None = None) -> None:
        self.handlers: dict[str, Handler] = {}
        for command, fn in (handlers or {}).items():
            self.register(command, fn)

    def register(
        self,
        command: str,
        fn: Callable[[Job], Any],
        *,
        timeout: float | None = None,
        permanent: tuple[type[BaseException], ...] = (),
    ) -> Handler:
        if not callable(fn):
            raise TypeError(f"the handler of {command!r} is not callable")
        handler = Handler(command, fn, timeout, tuple(permanent))
        self.handlers[command.lower()] = handler
        return handler

    def task(
        self, command: str, *, timeout: float | None = None, permanent: tuple[type[BaseException], ...] = ()
    ) -> Callable[[Callable[[Job], Any]], Callable[[Job], Any]]:
        """Decorator: ``fn`` handles ``command``."""

        def register(fn: Callable[[Job], Any]) -> Callable[[Job], Any]:
            self.register(command, fn, timeout=timeout, permanent=permanent)
            return fn

        return register

    def handler_for(self, command: str) -> Handler | None:
        return self.handlers.get(command.lower())

    @property
    def commands(self) -> list[str]:
        return [h.command for h in self.handlers.values()]

    @property
    def needs_threads(self) -> bool:
        return any(not h.is_async for h in self.handlers.values())


def result_object(value: Any) -> dict[str, Any]:
    """A handler's return value as a result object: a dict as is, None as ``{}``, anything else as
    ``{"value": ...}`` (the platform stores results as JSON objects)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    return {"value": value}


async def call_handler(handler: Handler, job: Job, threads: Any) -> Any:
    """Run the handler once, bounded by its timeout (``TimeoutError`` past it). A plain function runs on
    ``threads``; past its timeout the thread cannot be stopped, so it finishes in the background and
    what it returns is dropped."""
    loop = asyncio.get_running_loop()
    run = handler.fn(job) if handler.is_async else loop.run_in_executor(threads, handler.fn, job)
    if handler.timeout is None:
        return await run
    return await asyncio.wait_for(run, handler.timeout)
