"""Result codes of the Lua scripts and the exception each one raises."""

from __future__ import annotations

from codeq_platform.errors import (
    CodeqError,
    NotFound,
    NotInProgress,
    NotOwner,
    QueueFull,
    TaskFinished,
    TaskInProgress,
    TaskNotInDlq,
)

NOT_FOUND, NOT_OWNER, NOT_IN_PROGRESS = -1, -2, -3
IN_PROGRESS, QUEUE_FULL, FINISHED, NOT_IN_DLQ = -4, -5, -6, -7

_BY_CODE: dict[int, tuple[type[CodeqError], str]] = {
    NOT_FOUND: (NotFound, "task not found"),
    NOT_OWNER: (NotOwner, "not-owner"),
    NOT_IN_PROGRESS: (NotInProgress, "not-in-progress"),
    IN_PROGRESS: (TaskInProgress, "task_in_progress"),
    QUEUE_FULL: (QueueFull, "the tenant's queued-task limit is reached"),
    FINISHED: (TaskFinished, "task_finished"),
    NOT_IN_DLQ: (TaskNotInDlq, "task_not_in_dlq"),
}


def error_for(code: int) -> CodeqError:
    """The exception for a negative script result code."""
    cls, message = _BY_CODE[code]
    return cls(message)
