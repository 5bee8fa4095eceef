"""The threads plain (non-async) handlers run on.

They are daemon threads: a handler stuck past its timeout or past the shutdown grace period must not keep
the process alive once its task has been given back (``ThreadPoolExecutor`` joins its threads at exit).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any


class DaemonThreads(Executor):
    """A pool that starts a daemon thread whenever no thread is idle, up to ``max_threads``."""

    def __init__(self, max_threads: int) -> None:
        self.max_threads = max_threads
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._work.put((future, lambda: fn(*args, **kwargs)))
        with self._lock:
            if self._idle == 0 and self._threads < self.max_threads:
                self._threads += 1
                threading.Thread(target=self._serve, name=f"codeq-handler-{self._threads}", daemon=True).start()
            elif self._idle > 0:
                self._idle -= 1
        return future

    def _serve(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, call = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:  # handed to the awaiting coroutine, which decides
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            for _ in range(self._threads):
                self._work.put(None)
