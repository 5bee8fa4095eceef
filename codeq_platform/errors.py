"""Every error codeQ Platform raises on purpose, with a stable machine code.

    CodeqError
    ├── InvalidInput              bad argument; ``field`` names it
    │   ├── PayloadTooLarge       payload or body above its limit
    │   └── InvalidSchedule       a well-formed schedule spec that cannot run (bad cron, unknown zone)
    ├── NotFound                  no such task (or another tenant's)
    ├── NotOwner                  the caller does not hold the task's lease
    ├── NotInProgress             the task has no lease holder at all
    ├── Conflict                  the task's state forbids the operation
    │   ├── TaskNotInDlq
    │   ├── TaskInProgress
    │   └── TaskFinished
    ├── Unauthenticated           no usable bearer token
    ├── Forbidden                 a valid token whose role may not do this
    │   └── TenantSuspended       the token's tenant is suspended (its data stays)
    ├── QueueFull                 the tenant's queued-task limit is reached
    ├── RateLimited               the tenant's request rate is exceeded
    ├── QuotaExceeded             the tenant's monthly task quota is used up
    └── StoreUnavailable          the KV store cannot be reached or timed out

This module imports nothing of Django, so the engine can raise these too.
"""

from __future__ import annotations


class CodeqError(Exception):
    """Base of every deliberate error; ``code`` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.code
        self.field = field
        super().__init__(self.message)


class InvalidInput(CodeqError):
    code = "invalid_input"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class InvalidSchedule(InvalidInput):
    code = "invalid_schedule"


class NotFound(CodeqError):
    code = "not-found"


class NotOwner(CodeqError):
    code = "not-owner"


class NotInProgress(CodeqError):
    code = "not-in-progress"


class Conflict(CodeqError):
    code = "conflict"


class TaskNotInDlq(Conflict):
    code = "task_not_in_dlq"


class TaskInProgress(Conflict):
    code = "task_in_progress"


class TaskFinished(Conflict):
    code = "task_finished"


class Unauthenticated(CodeqError):
    code = "unauthenticated"


class Forbidden(CodeqError):
    code = "forbidden"


class TenantSuspended(Forbidden):
    code = "tenant_suspended"


class QueueFull(CodeqError):
    code = "queue_full"


class RateLimited(CodeqError):
    code = "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after: int = 1, scope: str = "tenant",
                 operation: str = "") -> None:  # fmt: skip
        super().__init__(message or "rate limit exceeded")
        self.retry_after = retry_after
        self.scope = scope
        self.operation = operation


class QuotaExceeded(CodeqError):
    """``resets_at`` is the next quota period's start, in seconds since the epoch."""

    code = "quota_exceeded"

    def __init__(self, message: str | None = None, *, limit: int, resets_at: int, retry_after: int) -> None:
        super().__init__(message or "monthly task quota exceeded")
        self.limit = limit
        self.resets_at = resets_at
        self.retry_after = retry_after


class StoreUnavailable(CodeqError):
    code = "store_unavailable"
