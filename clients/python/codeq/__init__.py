"""The Python client of codeQ Platform: ``Client`` / ``AsyncClient`` for the API, ``App`` and ``Worker``
to run handlers, ``codeq.webhooks.verify`` for signed deliveries, and the ``codeq`` command."""

from codeq.app import App, Job
from codeq.client import AsyncClient, Client, Report, worker_headers
from codeq.errors import (
    BadRequest,
    CodeqError,
    Conflict,
    Forbidden,
    InvalidSchedule,
    NotFound,
    NotOwner,
    PayloadTooLarge,
    PermanentError,
    QuotaExceeded,
    RateLimited,
    Retry,
    ServerError,
    TransportError,
    Unauthorized,
    Unavailable,
)
from codeq.models import ScheduleSpec, Task, TaskResult
from codeq.retry import RetryPolicy
from codeq.wakeups import WakeupReceiver
from codeq.worker import Worker

__version__ = "0.1.0"
__all__ = [
    "App",
    "AsyncClient",
    "BadRequest",
    "Client",
    "CodeqError",
    "Conflict",
    "Forbidden",
    "InvalidSchedule",
    "Job",
    "NotFound",
    "NotOwner",
    "PayloadTooLarge",
    "PermanentError",
    "QuotaExceeded",
    "RateLimited",
    "Report",
    "Retry",
    "RetryPolicy",
    "ScheduleSpec",
    "ServerError",
    "Task",
    "TaskResult",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "WakeupReceiver",
    "Worker",
    "worker_headers",
]
