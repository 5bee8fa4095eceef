"""A task's bounded history as its page tells it: each attempt with its worker, outcome, error and times,
and each event in words (no raw epoch milliseconds: a retry's due time is a time like any other)."""

from __future__ import annotations

from dataclasses import dataclass, field

from codeq_platform.engine import Task, TaskEvent

# How an attempt ended, by the event that ended it.
OUTCOMES = {
    "completed": "completed",
    "failed": "failed",
    "nacked": "failed, to be retried",
    "expired": "lease expired",
    "abandoned": "given back by the worker",
    "released": "released by an operator",
}


@dataclass
class Attempt:
    number: int
    worker: str
    started_ms: int
    ended_ms: int = 0
    outcome: str = "running"
    error: str = ""
    retry_at_ms: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Event:
    """One line of the history: what happened, when, and its detail in words (``at_ms`` for a time in it)."""

    kind: str
    at_ms: int
    detail: str
    detail_at_ms: int = 0


def attempts(task: Task) -> list[Attempt]:
    """The attempts the kept history shows, oldest first; a replay starts the count again."""
    found: list[Attempt] = []
    number = 0
    for ev in task.events:
        current = found[-1] if found and found[-1].outcome == "running" else None
        if ev.kind == "claimed":
            number += 1
            found.append(Attempt(number, ev.detail, ev.at_ms))
        elif ev.kind == "replayed":
            number = 0
        elif current is not None and ev.kind in OUTCOMES:
            current.outcome = OUTCOMES[ev.kind]
            current.ended_ms = ev.at_ms
            if ev.kind in ("failed", "nacked"):
                current.error = ev.detail
            elif ev.kind == "expired":
                current.error = "LEASE_EXPIRED"
            elif ev.kind == "released":
                current.notes.append(ev.detail)
            if ev.kind in ("abandoned", "released"):
                number -= 1  # the attempt is refunded
        elif ev.kind == "retry" and found and found[-1].ended_ms:
            found[-1].retry_at_ms = int(ev.detail) or ev.at_ms
        elif ev.kind == "dead" and found and found[-1].ended_ms:
            found[-1].notes.append("moved to the DLQ")
    return found


def _words(ev: TaskEvent) -> Event:
    if ev.kind == "retry":
        due = int(ev.detail) if ev.detail.isdigit() else 0
        if due <= ev.at_ms:
            return Event(ev.kind, ev.at_ms, "back in the ready queue at once")
        return Event(ev.kind, ev.at_ms, "next attempt due", due)
    if ev.kind == "run_now":
        return Event(ev.kind, ev.at_ms, f"made ready now by {ev.detail}")
    if ev.kind in ("claimed", "heartbeat", "abandoned", "expired"):
        return Event(ev.kind, ev.at_ms, f"worker {ev.detail}" if ev.detail else "")
    return Event(ev.kind, ev.at_ms, ev.detail)


def events(task: Task) -> list[Event]:
    """The kept events, newest first, their details in words."""
    return [_words(ev) for ev in reversed(task.events)]
