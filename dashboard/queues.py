"""A command's live queue as the console shows it: its tasks by state, and the operator's actions on them.

Lists are pages of the engine's cursors. Ready and dead tasks have lists of their own per command, so a
page is one read; delayed, leased and finished tasks share a set per shard with the other commands, so
a page of one command is gathered over at most ``SHARED_READS`` engine pages and may come back short,
with a cursor to go on from (never an unbounded scan).

Actions name tasks by id. Acting on "all matching" first collects at most ``MAX_ACTION`` ids of the
state (reading at most ``MATCH_READS`` engine pages), and the confirmation shows exactly how many; the
ids travel signed to the confirmed action, which moves those still in the state, no more. Every action
writes an audit entry naming the tasks and the operator. Operators also pause and resume a whole
command (claims skip it; enqueues are still taken), audited too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from codeq_platform.base import kv
from codeq_platform.engine import Engine, Page, QueueSettings, State, Task
from codeq_platform.engine.core import validate_command
from codeq_platform.errors import InvalidInput
from dashboard import selections
from dashboard.selections import MAX_ACTION, check_ids
from tenants import services
from tenants.models import Membership, Tenant

SHARED_READS = 8
MATCH_READS = 40


@dataclass(frozen=True)
class Action:
    """What an operator may do to tasks in some state: the role it needs, and how the console words it."""

    name: str
    role: str
    label: str
    done: str
    effect: str
    confirm: bool = False


ACTIONS = {
    "run_now": Action("run_now", Membership.Role.OPERATOR, "Run now", "{} made ready now.",
                      "Each goes to the ready queue now instead of waiting for its due time."),
    "release": Action("release", Membership.Role.OPERATOR, "Release", "{} released back to the ready queue.",
                      "Each goes back to the ready queue now with its attempt refunded; the worker holding it "
                      "will have its result refused."),
    "replay": Action("replay", Membership.Role.OPERATOR, "Replay", "{} replayed to the ready queue.",
                     "Each goes back to the ready queue with its attempts reset."),
    "cancel": Action("cancel", Membership.Role.OPERATOR, "Cancel", "{} cancelled.",
                     "Each ends FAILED with error CANCELLED and is never run.", confirm=True),
    "delete": Action("delete", Membership.Role.ADMIN, "Delete", "{} deleted for good.",
                     "Each goes for good, with its result and history; this cannot be undone.", confirm=True),
}  # fmt: skip


@dataclass(frozen=True)
class QueueState:
    """One tab of a command's queue page: the engine's states it holds, the actions offered there, and
    its field in the stats snapshots ('' for none)."""

    name: str
    title: str
    field: str
    states: tuple[State, ...]
    actions: tuple[str, ...]
    order: str


STATES = {
    "ready": QueueState("ready", "Ready", "ready", (State.READY,), ("cancel", "delete"),
                        "highest priority first, then oldest"),
    "delayed": QueueState("delayed", "Delayed", "delayed", (State.DELAYED,), ("run_now", "cancel", "delete"),
                          "soonest due first; a task backing off after a failure is retried when due"),
    "in_flight": QueueState("in_flight", "In flight", "in_flight", (State.LEASED,), ("release",),
                            "the lease that expires soonest first"),
    "finished": QueueState("finished", "Completed & failed", "", (State.COMPLETED, State.FAILED, State.CANCELLED),
                           ("delete",), "latest first, until retention removes them"),
    "dead": QueueState("dead", "Dead", "dlq", (State.DEAD,), ("replay", "delete"), "latest death first"),
}  # fmt: skip


def queue_state(name: str) -> QueueState:
    try:
        return STATES[name]
    except KeyError:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}", field="state") from None


def action_named(name: str, state: QueueState) -> Action:
    if name not in state.actions:
        raise InvalidInput(f"tasks that are {state.title.lower()} cannot be given that action", field="action")
    return ACTIONS[name]


def task_actions(*, allows: Callable[[str], bool], state: State) -> list[Action]:
    """The actions a task's page offers for a task in ``state`` to a member whose role ``allows``."""
    tab = next(s for s in STATES.values() if state in s.states)
    return [ACTIONS[name] for name in tab.actions if allows(ACTIONS[name].role)]


def backing_off(task: Task) -> bool:
    """A delayed task waiting to be retried after a failed attempt (not one scheduled for later)."""
    return task.state is State.DELAYED and task.attempts > 0


@dataclass
class QueuePage:
    tasks: list[Task]
    cursor: str | None


def _engine(tenant: Tenant) -> Engine:
    kv.register_tenant(tenant.slug, tenant.shards)
    return kv.sync_engine()


def _reader(engine: Engine, tenant: Tenant, cmd: str, state: QueueState) -> Callable[[int, str | None], Page]:
    slug = tenant.slug
    if state.name == "ready":
        return lambda limit, cursor: engine.ready(slug, cmd, limit=limit, cursor=cursor)
    if state.name == "dead":
        return lambda limit, cursor: engine.dlq(slug, cmd, limit=limit, cursor=cursor)
    shared = {"delayed": engine.delayed, "in_flight": engine.leases, "finished": engine.finished}[state.name]
    return lambda limit, cursor: shared(slug, limit=limit, cursor=cursor, command=cmd)


def _gather(read: Callable[[int, str | None], Page], want: int, cursor: str | None, reads: int) -> QueuePage:
    """Up to ``want`` tasks from at most ``reads`` engine pages, each asking only for what is missing."""
    tasks: list[Task] = []
    for _ in range(reads):
        page = read(min(want - len(tasks), 500), cursor)
        tasks += page.tasks
        cursor = page.next_cursor
        if cursor is None or len(tasks) >= want:
            break
    return QueuePage(tasks, cursor)


def tasks_in_state(*, tenant: Tenant, command: str, state: QueueState, cursor: str | None = None,
                   page_size: int = 50) -> QueuePage:  # fmt: skip
    """A page of ``command``'s tasks in ``state``, in the state's own order."""
    cmd = validate_command(command)
    engine = _engine(tenant)
    return _gather(_reader(engine, tenant, cmd, state), page_size, cursor, SHARED_READS)


def counts(*, tenant: Tenant, command: str) -> dict[str, int | None]:
    """How many tasks each tab holds, from the engine's counters (no queue is read); finished tasks are
    not counted per command."""
    stats = _engine(tenant).queue_stats(tenant.slug, validate_command(command))
    return {"ready": stats.ready, "delayed": stats.delayed, "in_flight": stats.in_flight, "finished": None,
            "dead": stats.dlq}  # fmt: skip


@dataclass
class Selection:
    """The tasks an action on "all matching" will touch, as the confirmation shows them."""

    task_ids: list[str]
    capped: bool
    token: str


def _salt(tenant: Tenant, command: str, state: QueueState, action: Action, actor: str) -> str:
    return f"dashboard.queues:{tenant.pk}:{command}:{state.name}:{action.name}:{actor}"


def select_matching(*, tenant: Tenant, command: str, state: QueueState, action: Action, actor: str) -> Selection:
    """Every task of ``command`` in ``state``, at most ``MAX_ACTION`` of them; ``token`` carries the list,
    signed for this tenant, command, state, action and user, to the confirmed action."""
    cmd = validate_command(command)
    engine = _engine(tenant)
    found = _gather(_reader(engine, tenant, cmd, state), MAX_ACTION, None, MATCH_READS)
    ids = [task.id for task in found.tasks]
    token = selections.sign(ids, _salt(tenant, cmd, state, action, actor))
    return Selection(ids, capped=found.cursor is not None, token=token)


def unsign_selection(*, tenant: Tenant, command: str, state: QueueState, action: Action, actor: str,
                     token: str) -> list[str]:  # fmt: skip
    """The ids of a confirmation token; InvalidInput when it is forged, foreign or stale."""
    return selections.unsign(token, _salt(tenant, validate_command(command), state, action, actor))


def act(*, tenant: Tenant, command: str, state: QueueState, action: Action, task_ids: list[str], actor: str,
        matching: bool = False) -> int:  # fmt: skip
    """Apply ``action`` to the named tasks of ``command`` that are still in ``state``; returns how many it
    moved. The audit entry names the tasks asked for and says how many moved."""
    cmd = validate_command(command)
    ids = check_ids(task_ids)
    engine = _engine(tenant)
    slug = tenant.slug
    if action.name in ("delete", "cancel"):
        # delete.lua removes a task in any state but leased, and cancel.lua a pending task of any command:
        # only this command's tasks still where the operator saw them go.
        found = engine.get_results(slug, ids)
        kept = [i for i in ids if i in found and found[i][0].state in state.states and found[i][0].command_key == cmd]
        if not kept:
            moved = 0
        elif action.name == "delete":
            moved = engine.delete_many(slug, cmd, kept).count
        else:
            moved = engine.cancel_many(slug, kept).count
    elif action.name == "replay":
        moved = engine.replay_many(slug, cmd, ids).count
    elif action.name == "release":
        moved = engine.release(slug, cmd, ids, actor).count
    else:
        moved = engine.run_now(slug, cmd, ids, actor).count
    services.record_audit(tenant=tenant, actor=actor, action=f"queue.{action.name}", target=cmd, task_ids=ids,
                          detail={"state": state.name, "requested": len(ids), "moved": moved,
                                  "all_matching": matching})  # fmt: skip
    return moved


def set_cap(*, tenant: Tenant, command: str, cap: str, actor: str) -> QueueSettings:
    """Cap ``command``'s tasks in flight at ``cap`` (the form's text; blank lifts the cap), and audit it as
    the API's ``PUT .../limits`` does."""
    cmd = validate_command(command)
    text = cap.strip()
    if text and not text.isdigit():
        raise InvalidInput("The cap on tasks in flight is a whole number of tasks, or blank for no cap.",
                           field="maxInFlight")  # fmt: skip
    try:
        settings = _engine(tenant).limit_queue(tenant.slug, cmd, int(text) if text else None)
    except InvalidInput as exc:
        raise InvalidInput(f"The cap on tasks in flight: {exc.message}", field="maxInFlight") from exc
    services.record_audit(tenant=tenant, actor=actor, action="queue.limits", target=cmd,
                          detail={"maxInFlight": settings.max_in_flight})  # fmt: skip
    return settings


def set_paused(*, tenant: Tenant, command: str, paused: bool, actor: str) -> QueueSettings:
    """Pause (claims skip the command; enqueues are still taken) or resume ``command``, and audit it."""
    cmd = validate_command(command)
    engine = _engine(tenant)
    settings = engine.pause_queue(tenant.slug, cmd) if paused else engine.resume_queue(tenant.slug, cmd)
    services.record_audit(tenant=tenant, actor=actor, action="queue.pause" if paused else "queue.resume", target=cmd)
    return settings
