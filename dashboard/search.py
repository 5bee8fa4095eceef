"""The console's task search: by id prefix, idempotency key, tag and error text, across states.

An exact id and an idempotency key are direct lookups. Everything else has no index, so a search walks
the tenant's task records with the engine's bounded scan: one page takes at most ``MAX_STEPS`` steps of
about ``SCAN_STEP`` records each (an id prefix is matched by the store, the rest here) and stops once it
has ``PAGE_SIZE`` matches. When it stops before the end, the page says so and its cursor continues
where it stopped. Records come in the store's order, not by time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codeq_platform.base import kv
from codeq_platform.engine import State, Task, command_key
from codeq_platform.engine.core import TASK_ID_RE, validate_command
from codeq_platform.errors import InvalidInput, NotFound
from tenants.models import Tenant

PAGE_SIZE = 50
SCAN_STEP = 250
MAX_STEPS = 20


@dataclass(frozen=True)
class TaskQuery:
    """What the operator searches for; every criterion given must hold (case-insensitive text)."""

    id_prefix: str = ""
    idempotency_key: str = ""
    tag: str = ""
    error: str = ""
    state: str = ""
    command: str = ""

    def __post_init__(self) -> None:
        if self.id_prefix and not TASK_ID_RE.match(self.id_prefix):
            raise InvalidInput("a task id holds only letters, digits and . _ : @ + -", field="id")
        if len(self.idempotency_key) > 256 or "\x00" in self.idempotency_key:
            raise InvalidInput("an idempotency key is at most 256 characters", field="key")
        if len(self.tag) > 64:
            raise InvalidInput("a tag is at most 64 characters", field="tag")
        if len(self.error) > 500:
            raise InvalidInput("the error text is at most 500 characters", field="error")
        if self.state and self.state not in State.__members__.values():
            raise InvalidInput(f"state is one of {', '.join(State)}", field="state")
        if self.command:
            validate_command(self.command)

    @property
    def given(self) -> bool:
        return any((self.id_prefix, self.idempotency_key, self.tag, self.error, self.state, self.command))

    def matches(self, task: Task) -> bool:
        return (
            task.id.startswith(self.id_prefix)
            and (not self.idempotency_key or task.idempotency_key == self.idempotency_key)
            and (not self.tag or self.tag.casefold() in (t.casefold() for t in task.tags))
            and (not self.error or self.error.casefold() in task.error.casefold())
            and (not self.state or task.state == self.state)
            and (not self.command or task.command_key == command_key(self.command))
        )


@dataclass
class SearchPage:
    """One page of matches. ``direct``: answered by a lookup, no scan. ``cursor`` continues a scan that
    stopped before the end (None once every record was examined); ``examined`` counts the records the
    store handed over, ``steps`` the scan steps taken."""

    tasks: list[Task] = field(default_factory=list)
    cursor: str | None = None
    examined: int = 0
    steps: int = 0
    direct: bool = False

    @property
    def stopped_early(self) -> bool:
        return self.cursor is not None


def search_tasks(*, tenant: Tenant, query: TaskQuery, cursor: str | None = None) -> SearchPage:
    """A page of ``tenant``'s tasks that match ``query``: a direct lookup for an idempotency key, else a
    bounded scan from ``cursor`` (see the module docstring)."""
    kv.register_tenant(tenant.slug, tenant.shards)
    engine = kv.sync_engine()
    if query.idempotency_key:
        try:
            task = engine.task_by_idempotency_key(tenant.slug, query.idempotency_key)
        except NotFound:
            return SearchPage(direct=True)
        return SearchPage(tasks=[task] if query.matches(task) else [], examined=1, direct=True)
    page = SearchPage(cursor=cursor)
    while True:
        step = engine.scan_tasks(tenant.slug, cursor=page.cursor, count=SCAN_STEP, id_prefix=query.id_prefix)
        page.steps += 1
        page.examined += len(step.tasks)
        page.tasks += [task for task in step.tasks if query.matches(task)]
        page.cursor = step.next_cursor
        # A step is never cut short: its cursor resumes after the whole step, so a page may end a little
        # past PAGE_SIZE rather than lose the rest of a step.
        if page.cursor is None or len(page.tasks) >= PAGE_SIZE or page.steps >= MAX_STEPS:
            return page


def task_by_id(*, tenant: Tenant, task_id: str) -> Task | None:
    """The task with exactly this id, or None (the search box opens it straight away)."""
    kv.register_tenant(tenant.slug, tenant.shards)
    try:
        return kv.sync_engine().get_task(tenant.slug, task_id)
    except NotFound:
        return None
