"""When a request is sent again, and after how long.

A request is resent when the platform certainly did not act on it: an answer of 429 (rate limited), or
a connection that could not be opened. When the platform may have acted (503 from a store that timed
out, a reply lost on the way back) it is resent only if doing it twice is harmless: reads, PUT and
DELETE, creates (they carry an idempotency key), heartbeats, progress and results (the platform answers a
repeated result with what it stored). Claims, nacks and abandons are not resent then: a repeated claim
could lease a task nobody works on, a repeated nack or abandon would answer ``not-owner`` for work that
was in fact given back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` sends at most; waits are ``Retry-After`` when the server gives one, else random in
    ``[0, min(base * 2**n, cap)]`` (full jitter) seconds. An answer asking for a wait longer than
    ``max_retry_after`` (a monthly quota used up: days) is raised at once rather than waited for."""

    attempts: int = 5
    base: float = 0.25
    cap: float = 10.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.base * 2**attempt, self.cap))

    def after_answer(self, response: httpx.Response, attempt: int, replayable: bool) -> float | None:
        """Seconds to wait before resending after an error answer, or None to give up."""
        status = response.status_code
        if attempt + 1 >= self.attempts or not (status == 429 or (status in (502, 503, 504) and replayable)):
            return None
        retry_after = retry_after_seconds(response)
        if retry_after is None:
            return self.backoff(attempt)
        return retry_after if retry_after <= self.max_retry_after else None

    def after_failure(self, exc: httpx.TransportError, attempt: int, replayable: bool) -> float | None:
        """Seconds to wait before resending after a transport error, or None to give up."""
        if attempt + 1 >= self.attempts or not (replayable or isinstance(exc, NOT_SENT)):
            return None
        return self.backoff(attempt)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the platform sends a number of seconds)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
