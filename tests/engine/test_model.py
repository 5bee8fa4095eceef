"""The engine against a plain-Python reference model of the contract's queue semantics (§3, §6).

A hypothesis state machine drives random sequences of enqueue (two commands, spelled in several
cases; priorities 0-9; some delayed; maxAttempts 1-3), claim (three workers, count 1-3, a subset of
the commands), heartbeat, complete and fail (some claiming their next tasks in the same call, some
repeated by the worker that settled), nack (a given delay or backoff), abandon, time passing, sweep,
replay (one, and all of a command), cancel, a repeated enqueue of an existing id, and by-id calls
on a missing id, against the real engine. Each step is applied to the model too, and after every
step the two are compared: every task's record (state, attempts <= maxAttempts, holder, lease,
due time, error), the ready lists in claim order (``engine.ready`` pages, which skip stale
entries: a live task listed twice shows), the lease, delayed and DLQ listings (each live task in
exactly one, finished tasks in none) and ``queue_stats`` (ready per priority, delayed, in flight,
DLQ, counters, oldest ready time).

Operations are aimed both ways: mostly at tasks where they must succeed, and (``stray``) at any
task by any worker, where the model predicts acceptance or the exact error (NotOwner,
NotInProgress, TaskInProgress, TaskFinished, TaskNotInDlq, NotFound); a refused operation must
leave the task's record byte-for-byte as it was.

The model cannot know the random backoff delays; it reads them back from the engine (the returned
``Nacked.delay_ms``, or the task's ``due_ms`` after a lease expiry) and checks each lies inside the
jitter window. Across several commands the claim order is unspecified, so a claim is checked
against what the model can tell: per command a prefix of its ready order (priority, then FIFO), no
task of a higher priority left behind, and as many tasks as were ready. Claim-time maintenance is
modelled as the engine documents it: at most ``lazy_batch`` of the claimed commands' expired leases
and due delayed tasks, found among the 10 x ``lazy_batch`` lowest, at most once per ``lazy_interval_ms``.

Each example runs on its own key prefix (and client), deleted at its end. ``CODEQ_MODEL_EXAMPLES``
raises the example count for a longer soak.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from codeq_platform.engine import Engine, EngineConfig, NewTask, Settled, State, Task, connect
from codeq_platform.errors import (
    NotFound,
    NotInProgress,
    NotOwner,
    TaskFinished,
    TaskInProgress,
    TaskNotInDlq,
)

TENANT = "acme"
COMMANDS = ("resize", "encode")
# Queue matching is case-insensitive: producers and workers may spell a command differently.
SPELLINGS = {"resize": ("resize", "Resize"), "encode": ("encode", "ENCODE")}
ALL_SPELLINGS = tuple(s for names in SPELLINGS.values() for s in names)
WORKERS = ("w1", "w2", "w3")
GHOST = "ghost-1"  # an id no task ever has
BASE_MS, CAP_MS = 1000, 8000
LAZY_BATCH = 3  # small, so the bound on claim-time maintenance is exercised with few tasks
LAZY_INTERVAL_MS = 1000  # claim-time maintenance runs at most once per this interval (per engine)
PAGE = 3  # small pages, so every listing is read through its cursors
LEASES_MS = (1000, 2000, 5000, 10_000)
PRIORITIES = st.sampled_from([0, 5, 9, 0, 5, 9, 0, 5, 9, 1, 2, 3, 4, 6, 7, 8])  # mostly 3: FIFO ties
NEXT_COMMANDS = st.one_of(st.just([]), st.lists(st.sampled_from(ALL_SPELLINGS), min_size=1, max_size=2))
# A task to create: (command, spelling, priority, maxAttempts, delay ms)
SPECS = st.tuples(st.sampled_from(COMMANDS), st.integers(0, 1), PRIORITIES, st.sampled_from([1, 1, 2, 3]),
                  st.sampled_from([0, 0, 0, 1000, 2500, 10_000]))  # fmt: skip
LIVE = (State.READY, State.DELAYED, State.LEASED, State.DEAD)  # the states with a listing

SETTINGS = settings(
    max_examples=int(os.environ.get("CODEQ_MODEL_EXAMPLES", "60")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no explain: it re-runs a lot
)


@dataclass
class Ref:
    """The model's view of one task."""

    id: str
    command: str  # routing form (lowercase)
    priority: int
    max_attempts: int
    state: State
    attempts: int = 0
    worker: str = ""  # the lease holder while LEASED; who settled it once COMPLETED/FAILED
    lease_until: int = 0
    due: int = 0
    finished: int = 0
    error: str = ""
    ready_since: int = 0


class Model:
    """Where every task is, by the contract: ready lists per (command, priority), and states."""

    def __init__(self) -> None:
        self.tasks: dict[str, Ref] = {}
        self.ready: dict[tuple[str, int], list[str]] = defaultdict(list)
        self.counters: dict[str, Counter[str]] = {cmd: Counter() for cmd in COMMANDS}

    def get(self, task_id: str) -> Ref | None:
        return self.tasks.get(task_id)

    def having(self, *states: State, command: str | None = None) -> list[Ref]:
        return [t for t in self.tasks.values() if t.state in states and command in (None, t.command)]

    def ready_order(self, command: str) -> list[str]:
        """Claim order of one command: highest priority first, FIFO within a priority."""
        return [tid for p in range(9, -1, -1) for tid in self.ready[(command, p)]]

    # -- transitions -------------------------------------------------------------------------

    def push_ready(self, t: Ref, now: int) -> None:
        t.state, t.due, t.ready_since = State.READY, 0, now
        self.ready[(t.command, t.priority)].append(t.id)

    def to_delayed(self, t: Ref, due: int) -> None:
        t.state, t.due = State.DELAYED, due

    def lease(self, t: Ref, worker: str, until: int) -> None:
        self.ready[(t.command, t.priority)].remove(t.id)
        t.state, t.worker, t.lease_until = State.LEASED, worker, until
        t.attempts += 1

    def release(self, t: Ref) -> None:
        t.worker, t.lease_until = "", 0

    def dead(self, t: Ref, now: int, reason: str) -> None:
        t.state, t.finished, t.error = State.DEAD, now, reason
        self.counters[t.command]["dead"] += 1

    def finish(self, t: Ref, state: State, now: int, error: str) -> None:
        if t.state == State.READY:
            self.ready[(t.command, t.priority)].remove(t.id)
        t.state, t.finished, t.error, t.lease_until, t.due = state, now, error, 0, 0

    def replay(self, t: Ref, now: int) -> None:
        t.attempts, t.error, t.worker, t.lease_until, t.finished = 0, "", "", 0, 0
        self.push_ready(t, now)

    # -- what maintenance would touch --------------------------------------------------------

    def expired(self, now: int, limit: int) -> list[str]:
        """Leases past their time, in the order the store keeps them (expiry ms, then id)."""
        return [t.id for t in sorted(self.having(State.LEASED), key=lambda t: (t.lease_until, t.id))
                if t.lease_until <= now][:limit]  # fmt: skip

    def due(self, now: int, limit: int) -> list[str]:
        return [t.id for t in sorted(self.having(State.DELAYED), key=lambda t: (t.due, t.id))
                if t.due <= now][:limit]  # fmt: skip


def backoff_window(attempts: int) -> int:
    return min(BASE_MS * 2**attempts, CAP_MS)


def all_pages(fetch: Callable[[str | None], Any]) -> list[Task]:
    out: list[Task] = []
    cursor: str | None = None
    for _ in range(1000):
        page = fetch(cursor)
        out += page.tasks
        cursor = page.next_cursor
        if cursor is None:
            return out
    raise AssertionError("a listing's cursor never ended")


class EngineMachine(RuleBasedStateMachine):
    def __init__(self, kv_url: str, clock: Any) -> None:
        super().__init__()
        # A client per example: an Engine's link takes a pool slot it never gives back (see
        # test_engines_give_their_connection_back), so one shared client would run dry.
        self.client = connect(kv_url)
        self.clock = clock
        self.prefix = f"cqm{uuid.uuid4().hex[:10]}"
        config = EngineConfig(prefix=self.prefix, backoff_base_ms=BASE_MS, backoff_cap_ms=CAP_MS,
                              lazy_batch=LAZY_BATCH, lazy_interval_ms=LAZY_INTERVAL_MS)  # fmt: skip
        self.engine = Engine(self.client, config, clock)
        self.model = Model()
        self.seq = 0
        self.maintained_at: int | None = None

    def teardown(self) -> None:
        try:
            keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
            if keys:
                self.client.delete(*keys)
        finally:
            self.engine.close()
            self.client.close()

    # -- helpers -----------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock() * 1000)

    def snapshot(self, task_id: str) -> Task | None:
        try:
            return self.engine.get_task(TENANT, task_id)
        except NotFound:
            return None

    def expect_rejected(self, op: str, error: type[Exception], task_id: str, call: Callable[[], Any]) -> None:
        """The engine refuses with exactly ``error`` and the task's record is untouched."""
        event(f"{op}: refused {error.__name__}")
        before = self.snapshot(task_id)
        with pytest.raises(error) as caught:
            call()
        assert type(caught.value) is error, f"{task_id}: {caught.value!r}, expected {error.__name__}"
        assert self.snapshot(task_id) == before, f"{task_id} changed by a refused operation"

    def owner_error(self, t: Ref | None, worker: str) -> type[Exception] | None:
        """The error a lease holder's operation must raise, or None when it must succeed."""
        if t is None:
            return NotFound
        if t.state != State.LEASED:
            return NotInProgress
        if t.worker != worker:
            return NotOwner
        return None

    def has(self, *states: State) -> bool:
        return any(t.state in states for t in self.model.tasks.values())

    def pick(self, data: st.DataObject, *states: State) -> str:
        return data.draw(st.sampled_from(sorted(t.id for t in self.model.having(*states))), label="task")

    def pick_leased(self, data: st.DataObject) -> tuple[str, str]:
        """A leased task and, mostly, its holder; sometimes another worker."""
        tid = self.pick(data, State.LEASED)
        holder = self.model.tasks[tid].worker
        worker = data.draw(st.sampled_from([holder, holder, holder, *(w for w in WORKERS if w != holder)]),
                           label="worker")  # fmt: skip
        return tid, worker

    def apply_expiry(self, ids: list[str], now: int) -> None:
        """Lease expiry of ``ids`` (in store order): a charged give-back. The backoff delay is
        random, so it is read back from the engine and checked against the jitter window."""
        for tid in ids:
            t = self.model.tasks[tid]
            self.model.release(t)
            if t.attempts >= t.max_attempts:
                event("expiry: dead-lettered")
                self.model.dead(t, now, "LEASE_EXPIRED")
                continue
            t.error = "LEASE_EXPIRED"
            seen = self.engine.get_task(TENANT, tid)
            delay = seen.due_ms - now if seen.state == State.DELAYED else 0
            assert 0 <= delay <= backoff_window(t.attempts), f"{tid}: backoff {delay} ms out of window"
            event(f"expiry: retried {'later' if delay else 'now'}")
            if delay > 0:
                self.model.to_delayed(t, now + delay)
            else:
                self.model.push_ready(t, now)

    def apply_promotion(self, ids: list[str], now: int) -> None:
        for tid in ids:
            self.model.push_ready(self.model.tasks[tid], now)

    # -- producer ----------------------------------------------------------------------------

    def create(self, spec: tuple[str, int, int, int, int]) -> None:
        command, spelling, priority, max_attempts, delay_ms = spec
        names = SPELLINGS[command]
        self.seq += 1
        tid = f"t{self.seq:03d}"  # client ids: a deterministic order among equal scores
        now = self.now()
        new = NewTask(names[spelling % len(names)], {"n": self.seq}, priority=priority,
                      max_attempts=max_attempts, delay_ms=delay_ms, task_id=tid)  # fmt: skip
        out = self.engine.enqueue(TENANT, new)
        assert out.created and out.task.id == tid
        t = Ref(tid, command, priority, max_attempts, State.READY)
        self.model.tasks[tid] = t
        self.model.counters[command]["created"] += 1
        if delay_ms:
            self.model.to_delayed(t, now + delay_ms)
        else:
            self.model.push_ready(t, now)

    @initialize(specs=st.lists(SPECS, min_size=2, max_size=6))
    def start_with_tasks(self, specs: list[tuple[str, int, int, int, int]]) -> None:
        for spec in specs:
            self.create(spec)

    @rule(specs=st.lists(SPECS, min_size=1, max_size=3))
    def enqueue(self, specs: list[tuple[str, int, int, int, int]]) -> None:
        for spec in specs:
            self.create(spec)

    @rule(op=st.sampled_from(["heartbeat", "complete", "fail", "nack", "abandon", "cancel", "replay"]),
          worker=st.sampled_from(WORKERS))  # fmt: skip
    def missing_task(self, op: str, worker: str) -> None:
        """A by-id operation on an id no task has: NotFound, and nothing changes."""
        e = self.engine
        calls = {"heartbeat": lambda: e.heartbeat(TENANT, GHOST, worker, lease_ms=1000),
                 "complete": lambda: e.complete(TENANT, GHOST, worker, {}),
                 "fail": lambda: e.fail(TENANT, GHOST, worker, "boom"),
                 "nack": lambda: e.nack(TENANT, GHOST, worker),
                 "abandon": lambda: e.abandon(TENANT, GHOST, worker),
                 "cancel": lambda: e.cancel(TENANT, GHOST),
                 "replay": lambda: e.replay(TENANT, GHOST)}  # fmt: skip
        self.expect_rejected(op, NotFound, GHOST, calls[op])

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), command=st.sampled_from(ALL_SPELLINGS))
    def enqueue_existing_id(self, data: st.DataObject, command: str) -> None:
        """Creating an existing id answers that task unchanged, whatever its state."""
        tid = data.draw(st.sampled_from(sorted(self.model.tasks)), label="task")
        before = self.snapshot(tid)
        out = self.engine.enqueue(TENANT, NewTask(command, {"again": True}, priority=9, task_id=tid))
        assert not out.created and out.task == before
        assert self.snapshot(tid) == before

    # -- worker ------------------------------------------------------------------------------

    def lazy_batch(self, now: int) -> int:
        """Claim-time maintenance runs at most once per LAZY_INTERVAL_MS (per engine): the batch a
        claim made at ``now`` gets, charged to the interval whether or not the call succeeds."""
        last = self.maintained_at
        if last is not None and 0 <= now - last < LAZY_INTERVAL_MS:
            return 0
        self.maintained_at = now
        return LAZY_BATCH

    def claim_effects(self, call: Callable[[], list[Task]], cmds: list[str], worker: str, count: int,
                      lease_ms: int, batch: int, now: int) -> None:  # fmt: skip
        """Run a claim (``call``) and apply it to the model, checking what it handed out.

        Claim-time maintenance first: among the 10 x batch lowest expired leases and due delayed
        tasks of the whole tenant, the first ``batch`` of the claimed commands are acted on."""
        m = self.model
        expiring = [tid for tid in m.expired(now, batch * 10) if m.tasks[tid].command in cmds][:batch]
        promoting = [tid for tid in m.due(now, batch * 10) if m.tasks[tid].command in cmds][:batch]
        got = call()
        self.apply_expiry(expiring, now)
        self.apply_promotion(promoting, now)
        if expiring or promoting:
            event("claim: lazy maintenance acted")

        order = {cmd: m.ready_order(cmd) for cmd in cmds}
        ids = [t.id for t in got]
        if cmds:
            event(f"claim: got {'none' if not got else 'fewer than count' if len(got) < count else 'count'}")
        assert len(ids) == len(set(ids)), f"a task claimed twice in one call: {ids}"
        assert len(got) == min(count, sum(len(o) for o in order.values())), "claimed too few or too many"
        prios = [t.priority for t in got]
        assert prios == sorted(prios, reverse=True), f"claimed out of priority order: {ids}"
        for cmd in cmds:
            taken = [t.id for t in got if t.command.lower() == cmd]
            assert taken == order[cmd][: len(taken)], f"{cmd}: claimed {taken}, ready order {order[cmd]}"
            left = [m.tasks[i].priority for i in order[cmd][len(taken) :]]
            assert not got or not left or max(left) <= prios[-1], f"{cmd}: higher priority left behind"
        for task in got:
            t = m.tasks[task.id]
            m.lease(t, worker, now + lease_ms)
            assert task.state == State.LEASED and task.worker_id == worker
            assert task.lease_until_ms == now + lease_ms and task.attempts == t.attempts

    @rule(worker=st.sampled_from(WORKERS), commands=st.lists(st.sampled_from(ALL_SPELLINGS), min_size=1, max_size=3),
          count=st.integers(1, 3), lease_ms=st.sampled_from(LEASES_MS))  # fmt: skip
    def claim(self, worker: str, commands: list[str], count: int, lease_ms: int) -> None:
        now = self.now()
        cmds = list(dict.fromkeys(c.lower() for c in commands))
        batch = self.lazy_batch(now)
        call = lambda: self.engine.claim(TENANT, worker, commands, lease_ms=lease_ms, count=count)  # noqa: E731
        self.claim_effects(call, cmds, worker, count, lease_ms, batch, now)

    @rule(worker=st.sampled_from(WORKERS), count=st.integers(1, 3))
    def claim_every_command(self, worker: str, count: int) -> None:
        self.claim(worker, list(ALL_SPELLINGS), count, 2000)

    def do_cancel(self, tid: str) -> None:
        t = self.model.get(tid)
        call = lambda: self.engine.cancel(TENANT, tid)  # noqa: E731
        if t is None:
            return self.expect_rejected("cancel", NotFound, tid, call)
        if t.state == State.LEASED:
            return self.expect_rejected("cancel", TaskInProgress, tid, call)
        if t.state not in (State.READY, State.DELAYED):
            return self.expect_rejected("cancel", TaskFinished, tid, call)
        event(f"cancel: accepted ({t.state})")
        now = self.now()
        out = call()
        assert out.state == State.CANCELLED and out.status == "FAILED" and out.error == "CANCELLED"
        self.model.finish(t, State.CANCELLED, now, "CANCELLED")
        return None

    def do_heartbeat(self, tid: str, worker: str, lease_ms: int) -> None:
        t = self.model.get(tid)
        error = self.owner_error(t, worker)
        call = lambda: self.engine.heartbeat(TENANT, tid, worker, lease_ms=lease_ms)  # noqa: E731
        if error or t is None:
            return self.expect_rejected("heartbeat", error or NotFound, tid, call)
        now = self.now()
        event(f"heartbeat: accepted{' (lease past its time)' if t.lease_until <= now else ''}")
        out = call()
        t.lease_until = now + lease_ms
        assert out.state == State.LEASED and out.lease_until_ms == t.lease_until
        return None

    def do_settle(self, tid: str, worker: str, completed: bool, next_commands: Sequence[str] = (),
                  next_count: int = 1, lease_ms: int = 1000) -> None:  # fmt: skip
        """A final result; with ``next_commands``, the next tasks are claimed in the same call."""
        t = self.model.get(tid)
        kw: dict[str, Any] = {}
        if next_commands:
            kw = {"next_commands": next_commands, "next_count": next_count, "next_lease_ms": lease_ms}
        if completed:
            call = lambda: self.engine.complete(TENANT, tid, worker, {"done": tid}, **kw)  # noqa: E731
        else:
            call = lambda: self.engine.fail(TENANT, tid, worker, "boom", **kw)  # noqa: E731
        now = self.now()
        batch = self.lazy_batch(now) if next_commands else 0
        cmds = list(dict.fromkeys(c.lower() for c in next_commands))
        want = next_count if cmds else 0
        op = "complete" if completed else "fail"
        settled: list[Settled] = []

        def settle_then_claim() -> list[Task]:
            settled.append(call())
            return settled[0].claimed

        if t is not None and t.state in (State.COMPLETED, State.FAILED) and t.worker == worker:
            # The same holder repeating a result (a lost reply): answered as before and nothing
            # changes; the first call already claimed its next tasks, so this one claims none (its
            # claim-time maintenance slot is still used up).
            event(f"{op}: repeated")
            before = self.snapshot(tid)
            assert settle_then_claim() == []
            assert settled[0].repeated and settled[0].task == before
            assert self.snapshot(tid) == before
            return
        error = self.owner_error(t, worker)
        if error or t is None:
            self.expect_rejected(op, error or NotFound, tid, call)
            return
        event(f"{op}: accepted{' and claimed' if cmds else ''}")
        state = State.COMPLETED if completed else State.FAILED
        self.model.finish(t, state, now, "" if completed else "boom")
        self.model.counters[t.command]["completed" if completed else "failed"] += 1
        self.claim_effects(settle_then_claim, cmds, worker, want, lease_ms, batch, now)
        assert not settled[0].repeated and settled[0].task.state == state
        _, result = self.engine.get_result(TENANT, tid)
        assert result is not None and result.status == state.name

    def do_nack(self, tid: str, worker: str, delay_ms: int | None, reason: str) -> None:
        t = self.model.get(tid)
        error = self.owner_error(t, worker)
        call = lambda: self.engine.nack(TENANT, tid, worker, delay_ms=delay_ms, reason=reason)  # noqa: E731
        if error or t is None:
            return self.expect_rejected("nack", error or NotFound, tid, call)
        now = self.now()
        out = call()
        self.model.release(t)
        if t.attempts >= t.max_attempts:
            event("nack: dead-lettered")
            assert out.dead and out.task.state == State.DEAD, f"{tid}: attempts spent, not dead-lettered"
            self.model.dead(t, now, reason or "MAX_ATTEMPTS")
            return None
        assert not out.dead, f"{tid}: dead-lettered with attempts {t.attempts}/{t.max_attempts}"
        if delay_ms is None:
            assert 0 <= out.delay_ms <= backoff_window(t.attempts), f"backoff {out.delay_ms} ms out of window"
        else:
            assert out.delay_ms == delay_ms
        event(f"nack: retried {'later' if out.delay_ms else 'now'} ({'backoff' if delay_ms is None else 'given'})")
        t.error = reason
        if out.delay_ms > 0:
            self.model.to_delayed(t, now + out.delay_ms)
        else:
            self.model.push_ready(t, now)
        return None

    def do_abandon(self, tid: str, worker: str) -> None:
        t = self.model.get(tid)
        error = self.owner_error(t, worker)
        call = lambda: self.engine.abandon(TENANT, tid, worker)  # noqa: E731
        if error or t is None:
            return self.expect_rejected("abandon", error or NotFound, tid, call)
        event("abandon: accepted")
        now = self.now()
        out = call()
        self.model.release(t)
        t.attempts = max(t.attempts - 1, 0)  # not charged
        self.model.push_ready(t, now)
        assert out.state == State.READY and out.attempts == t.attempts
        return None

    @precondition(lambda self: self.has(State.LEASED))
    @rule(data=st.data(), lease_ms=st.sampled_from(LEASES_MS))
    def heartbeat(self, data: st.DataObject, lease_ms: int) -> None:
        self.do_heartbeat(*self.pick_leased(data), lease_ms)

    def pick_for_settle(self, data: st.DataObject) -> tuple[str, str]:
        """Mostly a leased task; sometimes a settled one and who settled it (a repeated call)."""
        if not self.has(State.LEASED) or (self.has(State.COMPLETED, State.FAILED) and data.draw(st.booleans())):
            tid = self.pick(data, State.COMPLETED, State.FAILED)
            return tid, self.model.tasks[tid].worker
        return self.pick_leased(data)

    @precondition(lambda self: self.has(State.LEASED, State.COMPLETED, State.FAILED))
    @rule(data=st.data(), next_commands=NEXT_COMMANDS, next_count=st.integers(1, 2),
          lease_ms=st.sampled_from(LEASES_MS))  # fmt: skip
    def complete(self, data: st.DataObject, next_commands: list[str], next_count: int, lease_ms: int) -> None:
        self.do_settle(*self.pick_for_settle(data), True, next_commands, next_count, lease_ms)

    @precondition(lambda self: self.has(State.LEASED, State.COMPLETED, State.FAILED))
    @rule(data=st.data(), next_commands=NEXT_COMMANDS, next_count=st.integers(1, 2),
          lease_ms=st.sampled_from(LEASES_MS))  # fmt: skip
    def fail(self, data: st.DataObject, next_commands: list[str], next_count: int, lease_ms: int) -> None:
        self.do_settle(*self.pick_for_settle(data), False, next_commands, next_count, lease_ms)

    @precondition(lambda self: self.has(State.LEASED))
    @rule(data=st.data(), delay_ms=st.sampled_from([None, None, 0, 1000, 4000]),
          reason=st.sampled_from(["", "flaky"]))  # fmt: skip
    def nack(self, data: st.DataObject, delay_ms: int | None, reason: str) -> None:
        self.do_nack(*self.pick_leased(data), delay_ms, reason)

    @precondition(lambda self: self.has(State.LEASED))
    @rule(data=st.data())
    def abandon(self, data: st.DataObject) -> None:
        self.do_abandon(*self.pick_leased(data))

    @precondition(lambda self: self.has(State.READY, State.DELAYED))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self.do_cancel(self.pick(data, State.READY, State.DELAYED))

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), op=st.sampled_from(["heartbeat", "complete", "fail", "nack", "abandon", "cancel", "replay"]),
          worker=st.sampled_from(WORKERS))  # fmt: skip
    def stray(self, data: st.DataObject, op: str, worker: str) -> None:
        """Any operation on any task by any worker, whatever its state: the model predicts whether
        the engine accepts it (and what follows) or refuses it (and nothing changes)."""
        tid = data.draw(st.sampled_from(sorted(self.model.tasks)), label="task")
        if op == "heartbeat":
            self.do_heartbeat(tid, worker, 1000)
        elif op in ("complete", "fail"):
            self.do_settle(tid, worker, op == "complete")
        elif op == "nack":
            self.do_nack(tid, worker, None, "")
        elif op == "abandon":
            self.do_abandon(tid, worker)
        elif op == "cancel":
            self.do_cancel(tid)
        else:
            self.do_replay(tid)

    # -- time and maintenance ----------------------------------------------------------------

    @rule(seconds=st.sampled_from([0.5, 1, 2, 3, 5, 12]))  # binary-exact: whole milliseconds
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)
        now = self.now()
        if self.model.expired(now, 1) or self.model.due(now, 1):
            event("time passes: something is due")

    @rule()
    def sweep(self) -> None:
        now = self.now()
        expiring, promoting = self.model.expired(now, 500), self.model.due(now, 500)
        report = self.engine.sweep(TENANT)
        self.apply_expiry(expiring, now)
        self.apply_promotion(promoting, now)
        assert (report.expired, report.promoted) == (len(expiring), len(promoting))
        if expiring or promoting:
            event("sweep: acted")

    # -- operator ----------------------------------------------------------------------------

    def do_replay(self, tid: str) -> None:
        t = self.model.get(tid)
        call = lambda: self.engine.replay(TENANT, tid)  # noqa: E731
        if t is None:
            return self.expect_rejected("replay", NotFound, tid, call)
        if t.state != State.DEAD:
            return self.expect_rejected("replay", TaskNotInDlq, tid, call)
        event("replay: accepted")
        now = self.now()
        out = call()
        self.model.replay(t, now)
        assert out.state == State.READY and out.attempts == 0 and out.error == ""
        return None

    @precondition(lambda self: self.has(State.DEAD))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        self.do_replay(self.pick(data, State.DEAD))

    @rule(command=st.sampled_from(ALL_SPELLINGS), limit=st.integers(1, 3))
    def replay_all(self, command: str, limit: int) -> None:
        cmd = command.lower()
        dead = [t.id for t in sorted(self.model.having(State.DEAD, command=cmd), key=lambda t: (t.finished, t.id))]
        now = self.now()
        out = self.engine.replay_all(TENANT, command, limit=limit)
        assert (out.count, out.remaining) == (min(limit, len(dead)), len(dead) > limit)
        event(f"replay_all: moved {out.count}")
        for tid in dead[:limit]:  # oldest death first, each to the tail of its list
            self.model.replay(self.model.tasks[tid], now)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def engine_agrees_with_model(self) -> None:
        m, e = self.model, self.engine
        for t in m.tasks.values():
            task = e.get_task(TENANT, t.id)
            assert task.attempts <= task.max_attempts, f"{t.id}: attempts above maxAttempts"
            seen = (task.state, task.attempts, task.worker_id, task.lease_until_ms, task.due_ms,
                    task.finished_ms, task.error, task.priority, task.max_attempts, task.command.lower())  # fmt: skip
            want = (t.state, t.attempts, t.worker, t.lease_until, t.due, t.finished, t.error, t.priority,
                    t.max_attempts, t.command)  # fmt: skip
            assert seen == want, f"{t.id}: engine {seen} != model {want}"

        # Every task in exactly one place: one listing for ready/delayed/leased/dead, none once finished.
        places: Counter[str] = Counter()
        for cmd in COMMANDS:
            ready = [t.id for t in all_pages(lambda c, cmd=cmd: e.ready(TENANT, cmd, limit=PAGE, cursor=c))]
            assert ready == m.ready_order(cmd), f"{cmd}: ready {ready} != model {m.ready_order(cmd)}"
            dlq = [t.id for t in all_pages(lambda c, cmd=cmd: e.dlq(TENANT, cmd, limit=PAGE, cursor=c))]
            newest_first = sorted(m.having(State.DEAD, command=cmd), key=lambda t: (t.finished, t.id), reverse=True)
            assert dlq == [t.id for t in newest_first], f"{cmd}: dlq {dlq}"
            places.update(ready + dlq)

            stats = e.queue_stats(TENANT, cmd)
            want_ready = [len(m.ready[(cmd, p)]) for p in range(10)]
            assert stats.ready_by_priority == want_ready, f"{cmd}: ready {stats.ready_by_priority} != {want_ready}"
            depths = (stats.delayed, stats.in_flight, stats.dlq)
            want_depths = tuple(len(m.having(s, command=cmd)) for s in (State.DELAYED, State.LEASED, State.DEAD))
            assert depths == want_depths, f"{cmd}: delayed/in_flight/dlq {depths} != {want_depths}"
            counters = (stats.created, stats.completed, stats.failed, stats.dead)
            c = m.counters[cmd]
            assert counters == (c["created"], c["completed"], c["failed"], c["dead"]), f"{cmd}: counters {counters}"
            since = [t.ready_since for t in m.having(State.READY, command=cmd)]
            want_oldest = min(since) if since else None
            assert stats.oldest_ready_ms == want_oldest, f"{cmd}: oldest_ready_ms {stats.oldest_ready_ms}"

        leases = [t.id for t in all_pages(lambda c: e.leases(TENANT, limit=PAGE, cursor=c))]
        by_expiry = sorted(m.having(State.LEASED), key=lambda t: (t.lease_until, t.id))
        assert leases == [t.id for t in by_expiry], f"leases {leases}"
        delayed = [t.id for t in all_pages(lambda c: e.delayed(TENANT, limit=PAGE, cursor=c))]
        by_due = sorted(m.having(State.DELAYED), key=lambda t: (t.due, t.id))
        assert delayed == [t.id for t in by_due], f"delayed {delayed}"
        places.update(leases + delayed)
        for t in m.tasks.values():
            assert places[t.id] == (1 if t.state in LIVE else 0), f"{t.id} ({t.state}) listed {places[t.id]} times"
        assert set(places) <= set(m.tasks), f"unknown tasks listed: {set(places) - set(m.tasks)}"


def test_engine_matches_reference_model(kv_url: str, clock: Any) -> None:
    run_state_machine_as_test(lambda: EngineMachine(kv_url, clock), settings=SETTINGS)


def test_engines_give_their_connection_back(kv_url: str, clock: Any) -> None:
    """Engines come and go over one long-lived client (one per test, request or thread): each
    must give its connection back when closed, or the client's pool (100 slots) runs dry."""
    client = connect(kv_url)
    try:
        for _ in range(150):
            engine = Engine(client, EngineConfig(prefix=f"cqm{uuid.uuid4().hex[:10]}"), clock)
            assert engine.queue_stats(TENANT, "resize").ready == 0
            engine.close()
    finally:
        client.close()


def test_oldest_ready_ignores_withdrawn_tasks(engine: Engine, clock: Any) -> None:
    """``oldest_ready_ms`` is when the oldest *ready* task became ready: a cancelled task's entry
    left at the head of a ready list does not count (the machine's minimal failing sequence)."""
    engine.enqueue(TENANT, NewTask("resize", {}, task_id="first"))
    clock.advance(10)
    second = engine.enqueue(TENANT, NewTask("resize", {}, task_id="second")).task
    clock.advance(10)
    engine.cancel(TENANT, "first")
    stats = engine.queue_stats(TENANT, "resize")
    assert (stats.ready, stats.oldest_ready_ms) == (1, second.updated_ms)
    engine.cancel(TENANT, "second")
    stats = engine.queue_stats(TENANT, "resize")
    assert (stats.ready, stats.oldest_ready_ms) == (0, None)
