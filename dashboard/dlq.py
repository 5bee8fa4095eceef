"""The dashboard's dead-letter queue: filtered reads and the operator's bulk actions.

Reads never scan a queue without a bound. The time window is a score range of the DLQ's sorted set
(the score is the time of death), so it costs what a page costs. The error-text filter has to read
records, so it examines at most the newest ``MATCH_BUDGET`` entries of the window: the page counts the
matches among them and lists them, and "replay all that match" selects from the same entries, so the
page and the action always agree; the page says how many it examined.

The commonest errors are counted among the newest ``GROUP_BUDGET`` dead tasks (of the time window),
grouped by the first line of their error text; the page says how many it counted, and a group's text
is what the error filter then looks for.

Bulk actions move at most ``MAX_ACTION`` tasks at a time. "Replay all that match" is confirmed first:
the confirmation lists exactly which tasks will move (a signed list of ids, so nothing else can be
slipped in), and the action moves those that are still dead, no more. An admin may replay one task
with an edited payload, checked as an enqueue checks one (JSON, the tenant's payload limit). Every
action writes an audit entry naming the tasks and the operator; an edit also records the digests of
the payload before and after.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from codeq_platform.base import kv
from codeq_platform.engine import Engine, State, Task, jsontext
from codeq_platform.engine.core import validate_command
from codeq_platform.errors import InvalidInput, NotFound, TaskNotInDlq
from dashboard import selections
from dashboard.selections import MAX_ACTION, check_ids
from tenants import services
from tenants.models import Tenant

MATCH_BUDGET = 10_000
PURGE_STEP = 1_000
PURGE_MAX = 50_000
READ_BATCH = 250
GROUP_BUDGET = 2_000
TOP_ERRORS = 8
GROUP_TEXT_MAX = 200
NO_ERROR = ""


@dataclass(frozen=True)
class DlqFilter:
    """What the operator narrowed the DLQ to: error text (case-insensitive) and time of death (ms)."""

    text: str = ""
    since_ms: int | None = None
    until_ms: int | None = None

    def __post_init__(self) -> None:
        if len(self.text) > 500:
            raise InvalidInput("the error filter is at most 500 characters", field="error")
        if self.since_ms is not None and self.until_ms is not None and self.since_ms > self.until_ms:
            raise InvalidInput("the window's start is after its end", field="since")

    def matches(self, task: Task) -> bool:
        return not self.text or self.text.casefold() in task.error.casefold()


@dataclass
class DlqPage:
    """One page of the DLQ; ``cursor`` continues. With error text, ``matching`` counts the matches among
    the newest ``examined`` entries of the window (``in_window`` entries in all)."""

    tasks: list[Task]
    cursor: str | None
    examined: int
    in_window: int
    budget_spent: bool = False
    matching: int = 0


@dataclass(frozen=True)
class ErrorGroup:
    """Dead tasks sharing the first line of their error (``text``, '' for none)."""

    text: str
    count: int


@dataclass
class ErrorGroups:
    """The commonest errors among the ``examined`` newest dead tasks; ``others`` counts the rest of them."""

    groups: list[ErrorGroup]
    examined: int
    in_window: int
    others: int


@dataclass
class Selection:
    """The tasks an action will move, as the confirmation showed them."""

    task_ids: list[str]
    examined: int
    in_window: int
    capped: bool
    token: str


def _engine(tenant: Tenant) -> Engine:
    kv.register_tenant(tenant.slug, tenant.shards)
    return kv.sync_engine()


def _cursor_after(task: Task) -> str:
    return f"{task.finished_ms}:{task.id}"


def _search(engine: Engine, tenant: Tenant, command: str, dlq_filter: DlqFilter, cursor: str | None,
            want: int, budget: int, count: bool = False) -> tuple[list[Task], int, str | None, int]:  # fmt: skip
    """Up to ``want`` matches, newest death first, reading at most ``budget`` entries; returns the
    matches, how many tasks were examined, the cursor to go on from (after the last match kept when
    ``want`` were found, else after the last one examined; None at the end) and how many matched.
    With ``count`` the whole budget is read, so the matches are all counted."""
    window = {"since_ms": dlq_filter.since_ms, "until_ms": dlq_filter.until_ms}
    matches: list[Task] = []
    examined = read = found = 0
    after: str | None = None
    while True:
        limit = min(READ_BATCH, budget - read)
        page = engine.dlq(tenant.slug, command, limit=limit, cursor=cursor, **window)
        read += limit
        for i, task in enumerate(page.tasks):
            examined += 1
            if not dlq_filter.matches(task):
                continue
            found += 1
            if len(matches) < want:
                matches.append(task)
                if len(matches) == want:
                    rest = i + 1 < len(page.tasks) or page.next_cursor is not None
                    after = _cursor_after(task) if rest else None
                    if not count:
                        return matches, examined, after, found
        cursor = page.next_cursor
        if cursor is None or read >= budget:
            return matches, examined, after if len(matches) == want else cursor, found


def dead_tasks(*, tenant: Tenant, command: str, dlq_filter: DlqFilter, cursor: str | None = None,
               page_size: int = 50) -> DlqPage:  # fmt: skip
    """A page of ``command``'s dead tasks, newest death first, narrowed by ``dlq_filter``.

    With error text, the matches are counted among the newest ``MATCH_BUDGET`` entries of the window
    (the entries "replay all that match" selects from) and the page lists them from ``cursor`` on.
    """
    engine = _engine(tenant)
    cmd = validate_command(command)
    in_window = engine.dlq_count(tenant.slug, cmd, since_ms=dlq_filter.since_ms, until_ms=dlq_filter.until_ms)
    if not dlq_filter.text:
        tasks, examined, after, _ = _search(engine, tenant, cmd, dlq_filter, cursor, page_size, page_size)
        return DlqPage(tasks, after, examined, in_window, matching=in_window)
    tasks, examined, after, found = _search(engine, tenant, cmd, dlq_filter, cursor, page_size, MATCH_BUDGET,
                                            count=cursor is None)  # fmt: skip
    budget_spent = len(tasks) < page_size and after is not None
    if cursor is not None:
        _, examined, _, found = _search(engine, tenant, cmd, dlq_filter, None, 0, MATCH_BUDGET, count=True)
    return DlqPage(tasks, after, examined, in_window, budget_spent=budget_spent, matching=found)


def error_group_of(error: str) -> str:
    """The group an error belongs to: its first non-blank line, at most ``GROUP_TEXT_MAX`` characters."""
    for line in error.splitlines():
        if line.strip():
            return line.strip()[:GROUP_TEXT_MAX]
    return NO_ERROR


def error_groups(*, tenant: Tenant, command: str, dlq_filter: DlqFilter) -> ErrorGroups:
    """The ``TOP_ERRORS`` commonest errors among ``command``'s newest ``GROUP_BUDGET`` dead tasks in the
    filter's time window (its error text is not applied: the groups are what one filters by)."""
    engine = _engine(tenant)
    cmd = validate_command(command)
    window = DlqFilter(since_ms=dlq_filter.since_ms, until_ms=dlq_filter.until_ms)
    in_window = engine.dlq_count(tenant.slug, cmd, since_ms=window.since_ms, until_ms=window.until_ms)
    tasks, examined, _, _ = _search(engine, tenant, cmd, window, None, GROUP_BUDGET, GROUP_BUDGET)
    counts = Counter(error_group_of(task.error) for task in tasks)
    top = [ErrorGroup(text, n) for text, n in counts.most_common(TOP_ERRORS)]
    return ErrorGroups(top, examined, in_window, others=examined - sum(g.count for g in top))


def payload_digest(payload: str) -> str:
    """The SHA-256 of a payload's stored JSON text, as the audit trail shows it."""
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def dead_task(*, tenant: Tenant, command: str, task_id: str) -> Task:
    """One dead task of ``command``; NotFound when there is none, TaskNotInDlq when it is no longer dead."""
    cmd = validate_command(command)
    task = _engine(tenant).get_task(tenant.slug, task_id)
    if task.command_key != cmd:
        raise NotFound("task not found")
    if task.state is not State.DEAD:
        raise TaskNotInDlq("task_not_in_dlq")
    return task


def replay_edited(*, tenant: Tenant, command: str, task_id: str, payload_text: str, actor: str) -> Task:
    """Replay one dead task of ``command`` with ``payload_text`` (JSON) as its payload; audited with the
    digests of the payload before and after. InvalidInput when the text is not JSON, PayloadTooLarge
    past the tenant's limit, TaskNotInDlq when the task left the DLQ meanwhile (nothing changes then)."""
    try:
        payload = jsontext.loads(payload_text)
    except ValueError as exc:
        raise InvalidInput(f"the payload is not valid JSON ({exc})", field="payload") from None
    if payload is None:
        raise InvalidInput("the payload cannot be null", field="payload")
    before = dead_task(tenant=tenant, command=command, task_id=task_id)
    replayed = _engine(tenant).replay_edited(tenant.slug, task_id, payload, payload_limit=tenant.max_payload_bytes)
    services.record_audit(tenant=tenant, actor=actor, action="dlq.replay_edited", target=before.command_key,
                          task_ids=[task_id], detail={"before": payload_digest(before.payload),
                                                      "after": payload_digest(replayed.payload)})  # fmt: skip
    return replayed


def select_matching(*, tenant: Tenant, command: str, dlq_filter: DlqFilter, actor: str) -> Selection:
    """The dead tasks that match ``dlq_filter``, newest first: at most ``MAX_ACTION`` of them, found
    among at most ``MATCH_BUDGET`` entries. ``token`` carries the list to the confirmed action."""
    engine = _engine(tenant)
    cmd = validate_command(command)
    in_window = engine.dlq_count(tenant.slug, cmd, since_ms=dlq_filter.since_ms, until_ms=dlq_filter.until_ms)
    tasks, examined, after, _ = _search(engine, tenant, cmd, dlq_filter, None, MAX_ACTION, MATCH_BUDGET)
    ids = [task.id for task in tasks]
    token = sign_selection(tenant=tenant, command=cmd, actor=actor, task_ids=ids)
    return Selection(ids, examined, in_window, capped=after is not None, token=token)


def _salt(tenant: Tenant, command: str, actor: str) -> str:
    return f"dashboard.dlq:{tenant.pk}:{command}:{actor}"


def sign_selection(*, tenant: Tenant, command: str, actor: str, task_ids: list[str]) -> str:
    """A tamper-proof token of the ids a confirmation showed, valid for this tenant, command and user."""
    return selections.sign(task_ids, _salt(tenant, command, actor))


def unsign_selection(*, tenant: Tenant, command: str, actor: str, token: str) -> list[str]:
    """The ids of a confirmation token; InvalidInput when it is forged, foreign or stale."""
    return selections.unsign(token, _salt(tenant, command, actor))


def replay_dead_tasks(
    *, tenant: Tenant, command: str, task_ids: list[str], actor: str, action: str = "dlq.replay"
) -> int:
    """Move the named dead tasks of ``command`` back to their ready queue; returns how many moved
    (a task no longer in the DLQ is left alone)."""
    cmd = validate_command(command)
    ids = check_ids(task_ids)
    moved = _engine(tenant).replay_many(tenant.slug, cmd, ids).count
    services.record_audit(tenant=tenant, actor=actor, action=action, target=cmd, task_ids=ids,
                          detail={"requested": len(ids), "moved": moved})  # fmt: skip
    return moved


def delete_dead_tasks(*, tenant: Tenant, command: str, task_ids: list[str], actor: str) -> int:
    """Delete the named tasks of ``command`` that are still dead; returns how many were deleted.

    Each task's state is read first, so a task replayed since the operator selected it is not
    deleted from its ready queue.
    """
    cmd = validate_command(command)
    ids = check_ids(task_ids)
    engine = _engine(tenant)
    dead = []
    for task_id in ids:
        try:
            task = engine.get_task(tenant.slug, task_id)
        except NotFound:
            continue
        if task.state is State.DEAD and task.command_key == cmd:
            dead.append(task_id)
    deleted = engine.delete_many(tenant.slug, cmd, dead).count if dead else 0
    services.record_audit(tenant=tenant, actor=actor, action="dlq.delete", target=cmd, task_ids=dead,
                          detail={"requested": len(ids), "deleted": deleted})  # fmt: skip
    return deleted


def purge_dead_tasks(*, tenant: Tenant, command: str, up_to: int, actor: str) -> tuple[int, int]:
    """Delete up to ``up_to`` (the count the confirmation showed) of ``command``'s dead tasks, oldest
    first, in bounded steps; returns (deleted, still in the DLQ)."""
    cmd = validate_command(command)
    if not 1 <= up_to <= PURGE_MAX:
        raise InvalidInput(f"a purge deletes 1 to {PURGE_MAX} tasks at a time", field="count")
    engine = _engine(tenant)
    deleted = 0
    while deleted < up_to:
        moved = engine.purge_dlq(tenant.slug, cmd, limit=min(PURGE_STEP, up_to - deleted))
        deleted += moved.count
        if not moved.remaining or not moved.count:
            break
    services.record_audit(tenant=tenant, actor=actor, action="dlq.purge", target=cmd,
                          detail={"deleted": deleted})  # fmt: skip
    return deleted, engine.dlq_count(tenant.slug, cmd)
