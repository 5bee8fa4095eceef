"""Every error the client raises, each carrying the server's machine ``code`` and HTTP ``status``.

    CodeqError                    base; ``code``, ``status``, ``field``, ``retry_after``, ``request_id``
    ├── BadRequest          400   invalid input (``field`` names it)
    │   ├── PayloadTooLarge 413
    │   └── InvalidSchedule 422   a well-formed schedule that cannot run (``field`` names why)
    ├── Unauthorized        401   no usable token
    ├── Forbidden           403   the token's role may not do this
    │   └── NotOwner        403   ``not-owner``: the caller does not hold the task's lease
    ├── NotFound            404   missing, or another tenant's
    ├── Conflict            409   the task's state forbids it (``not-in-progress``, ``task_in_progress``...)
    ├── RateLimited         429   retried by the client first; raised once retries are spent
    │   └── QuotaExceeded   429   ``quota_exceeded``: the monthly task quota is used up; raised at once
    ├── Unavailable         503   the platform's store is down; retried first as well
    ├── ServerError         5xx   anything else the server could not do
    └── TransportError      -     the platform could not be reached (``status`` is None)

``PermanentError`` is not raised by the client: a worker handler raises it to end its task ``FAILED``.
"""

from __future__ import annotations

from typing import Any


class CodeqError(Exception):
    """Base of every client error: ``message``, the server's ``code`` and the HTTP ``status``."""

    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: int | None = None,
        field: str | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        if status is not None:
            self.status = status
        self.field = field
        self.retry_after = retry_after
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        where = f"{self.status} " if self.status else ""
        return f"{where}{self.code}: {self.message}" if self.code != self.message else f"{where}{self.message}"


class BadRequest(CodeqError):
    status = 400


class PayloadTooLarge(BadRequest):
    status = 413


class InvalidSchedule(BadRequest):
    status = 422


class Unauthorized(CodeqError):
    status = 401


class Forbidden(CodeqError):
    status = 403


class NotOwner(Forbidden):
    """The caller no longer holds the task's lease (another worker does, or nobody)."""


class NotFound(CodeqError):
    status = 404


class Conflict(CodeqError):
    status = 409


class RateLimited(CodeqError):
    status = 429


class QuotaExceeded(RateLimited):
    """The tenant's monthly task quota is used up until ``retry_after`` seconds from now (the quota's reset,
    also in ``body["resetsAt"]``): not worth waiting for, so the client raises it without retrying."""


class Unavailable(CodeqError):
    status = 503


class ServerError(CodeqError):
    status = 500


class TransportError(CodeqError):
    """The request could not be sent or its answer was lost (connection refused, timeout)."""


class PermanentError(Exception):
    """Raised by a worker handler: the task ends ``FAILED`` with this message and is never retried."""


class Retry(Exception):
    """Raised by a worker handler: give the task back to be retried after ``delay_seconds`` (None: the
    server's backoff)."""

    def __init__(self, reason: str = "retry", *, delay_seconds: int | None = None) -> None:
        super().__init__(reason)
        self.delay_seconds = delay_seconds


_BY_STATUS: dict[int, type[CodeqError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidSchedule,
    429: RateLimited,
    503: Unavailable,
}


def error_for(status: int, body: Any, *, retry_after: float | None, request_id: str | None) -> CodeqError:
    """The exception for an error answer; the body is the platform's ``{"error", "code", ...}``."""
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("error") or f"HTTP {status}")
    code = str(body.get("code") or message)
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else CodeqError)
    if status == 403 and (code == "not-owner" or message == "not-owner"):
        kind = NotOwner
    if status == 429 and code == "quota_exceeded":
        kind = QuotaExceeded
    if retry_after is None and isinstance(body.get("retryAfterSeconds"), int | float):
        retry_after = float(body["retryAfterSeconds"])
    return kind(
        message,
        code=code,
        status=status,
        field=body.get("field"),
        retry_after=retry_after,
        request_id=request_id,
        body=body,
    )
