"""The ``codeq`` command: enqueue and inspect tasks, administer queues, and run workers.

Human tables by default, ``--json`` for scripts (the API's own JSON); exit codes in ``EXIT_CODES``.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from codeq import errors
from codeq.app import App
from codeq.client import Client, with_key
from codeq.config import ConfigError, resolve
from codeq.models import (
    ApiToken,
    ItemError,
    QueueSettings,
    Schedule,
    ScheduleSpec,
    Task,
    TaskResult,
    WebhookSubscription,
)
from codeq.wakeups import WakeupReceiver
from codeq.worker import Worker

OK = 0
ERROR = 1
USAGE = 2
NOT_FOUND = 3
DENIED = 4
REFUSED = 5
CONFLICT = 6
UNAVAILABLE = 7
NO_RESULT = 8
FAILED = 9

EXIT_CODES = f"""Exit codes:

\b
  {OK}  success
  {ERROR}  any other error (a 5xx answer, say)
  {USAGE}  bad usage: unknown option, missing argument, JSON that does not parse, no URL configured
  {NOT_FOUND}  not found (404)
  {DENIED}  not allowed: no or bad token (401), a role that may not do this (403)
  {REFUSED}  refused input (400, 413, 422)
  {CONFLICT}  conflict with the task's state (409)
  {UNAVAILABLE}  platform unreachable, or still 503/429 after the client's retries
  {NO_RESULT}  result --wait: no result by the deadline
  {FAILED}  result: the task ended FAILED; enqueue --file: some tasks were refused
"""


def _exit_code(exc: errors.CodeqError) -> int:
    if isinstance(exc, errors.NotFound):
        return NOT_FOUND
    if isinstance(exc, errors.Unauthorized | errors.Forbidden):
        return DENIED
    if isinstance(exc, errors.BadRequest):
        return REFUSED
    if isinstance(exc, errors.Conflict):
        return CONFLICT
    if isinstance(exc, errors.TransportError | errors.Unavailable | errors.RateLimited):
        return UNAVAILABLE
    return ERROR


@dataclass
class Context:
    url: str | None
    token: str | None
    profile: str | None
    as_json: bool
    out: Console
    err: Console
    _client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            try:
                settings = resolve(url=self.url, token=self.token, profile=self.profile)
            except ConfigError as exc:
                raise click.UsageError(str(exc)) from None
            self._client = Client(settings.url, settings.token)
        return self._client

    def emit(self, data: Any, human: Callable[[], None]) -> None:
        """``data`` as JSON with ``--json``, else what ``human`` prints."""
        if self.as_json:
            click.echo(json.dumps(data, default=str))
        else:
            human()


def _context(ctx: click.Context | None = None) -> Context:
    found = (ctx or click.get_current_context()).find_object(Context)
    assert found is not None, "main() puts the Context there before any subcommand runs"
    return found


def handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the client's errors into a message on stderr and the exit code they stand for."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.CodeqError as exc:
            ctx = _context()
            if ctx.as_json:
                click.echo(json.dumps({"error": exc.message, "code": exc.code, "status": exc.status}), err=True)
            else:
                ctx.err.print(f"[red]error[/red] {exc}", highlight=False)
            sys.exit(_exit_code(exc))

    return run


def json_value(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.UsageError(f"{what} is not JSON: {exc}") from None


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _table(*columns: str) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column)
    return table


def _show_task(ctx: Context, task: Task) -> None:
    def human() -> None:
        table = _table("field", "value")
        table.show_header = False
        rows = [("id", task.id), ("command", task.command), ("status", task.status), ("priority", task.priority),
                ("attempts", f"{task.attempts}/{task.max_attempts}"), ("payload", json.dumps(task.payload)),
                ("created", _when(task.created_at)), ("updated", _when(task.updated_at))]  # fmt: skip
        optional = [("worker", task.worker_id), ("lease until", task.lease_until and _when(task.lease_until)),
                    ("run at", task.run_at and _when(task.run_at)), ("error", task.error),
                    ("progress", None if task.progress is None else json.dumps(task.progress)),
                    ("completed", task.completed_at and _when(task.completed_at)),
                    ("webhook", task.webhook)]  # fmt: skip
        for name, value in [*rows, *((n, v) for n, v in optional if v)]:
            table.add_row(name, str(value))
        ctx.out.print(table, highlight=False)

    ctx.emit(task.raw, human)


@click.group(epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="CODEQ_URL", help="Platform address (http://host:8000); env CODEQ_URL.")
@click.option("--token", envvar="CODEQ_TOKEN", help="Bearer token; env CODEQ_TOKEN.")
@click.option("--profile", "-p", help="Profile of the profile file; env CODEQ_PROFILE.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
@click.version_option(package_name="codeq")
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None, profile: str | None, as_json: bool) -> None:
    """Enqueue and inspect codeQ Platform tasks, administer its queues, and run Python workers."""
    # Flags win over a named profile, which wins over the environment: click fills the options from the
    # environment too, so a named profile takes them back.
    named = profile or os.environ.get("CODEQ_PROFILE")
    source = ctx.get_parameter_source
    from_env = click.core.ParameterSource.ENVIRONMENT
    ctx.obj = Context(
        url=None if named and source("url") == from_env else url,
        token=None if named and source("token") == from_env else token,
        profile=profile,
        as_json=as_json,
        out=Console(highlight=False),
        err=Console(stderr=True, highlight=False),
    )


def json_flag(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` after the subcommand as well as before it."""

    def turn_on(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            _context(ctx).as_json = True

    return click.option("--json", "as_json_here", is_flag=True, expose_value=False, callback=turn_on,
                        help="Print JSON for scripts.")(fn)  # fmt: skip


# tasks


def _file_lines(source: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source, 1):
        if line.strip():
            yield number, line


def _enqueue_file(ctx: Context, path: str, batch_size: int) -> None:
    source: TextIO = sys.stdin if path == "-" else Path(path).open()  # noqa: SIM115 (closed below)
    lines = list(_file_lines(source))
    if source is not sys.stdin:
        source.close()
    bodies = []
    for number, line in lines:
        body = json_value(line, f"line {number}")
        if not isinstance(body, dict):
            raise click.UsageError(f'line {number} is not a JSON object (a task: {{"command", "payload"}})')
        bodies.append((number, with_key(body)))
    refused: list[dict[str, Any]] = []
    created = 0
    columns = (TextColumn("enqueue"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=ctx.err, disable=ctx.as_json, transient=False) as bar:
        progress = bar.add_task("enqueue", total=len(bodies))
        for start in range(0, len(bodies), batch_size):
            chunk = bodies[start : start + batch_size]
            outcomes = ctx.client.create_batch(body for _, body in chunk)
            for (number, _), outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, ItemError):
                    refused.append({"line": number, "error": outcome.message})
                else:
                    created += 1
            bar.advance(progress, len(chunk))

    def human() -> None:
        ctx.out.print(f"enqueued {created} task(s)" + (f", refused {len(refused)}:" if refused else ""))
        for item in refused:
            ctx.out.print(f"  line {item['line']}: {item['error']}")

    ctx.emit({"enqueued": created, "refused": refused}, human)
    if refused:
        sys.exit(FAILED)


@main.command()
@click.argument("command", required=False)
@click.argument("payload", required=False)
@click.option("--file", "-f", "path", help='A JSONL file of tasks ({"command", "payload", ...} a line); - for stdin.')
@click.option("--batch-size", type=click.IntRange(1, 100), default=100, show_default=True)
@click.option("--priority", type=click.IntRange(0, 9))
@click.option("--max-attempts", type=click.IntRange(1, 1000))
@click.option("--delay", "delay_seconds", type=click.IntRange(0), help="Seconds before it is ready.")
@click.option("--run-at", help="RFC 3339 moment it becomes ready.")
@click.option("--webhook", help="URL called with the result.")
@click.option("--idempotency-key", help="Default: a fresh one, so a retried request never makes two tasks.")
@click.option("--dedup-key", "deduplication_key", help="Coalesce with a pending task of the same key.")
@click.option("--task-id", help="The task's id (a repeat returns the existing task).")
@json_flag
@handled
def enqueue(command: str | None, payload: str | None, path: str | None, batch_size: int, **options: Any) -> None:
    """Enqueue one task: COMMAND and a JSON PAYLOAD (default {}); or every line of --file."""
    ctx = _context()
    if path is not None:
        if command is not None:
            raise click.UsageError("give either COMMAND [PAYLOAD] or --file, not both")
        _enqueue_file(ctx, path, batch_size)
        return
    if command is None:
        raise click.UsageError("COMMAND is required (or --file)")
    value = {} if payload is None else json_value(payload, "PAYLOAD")
    task = ctx.client.create(command, value, **{k: v for k, v in options.items() if v is not None})
    ctx.emit(task.raw, lambda: ctx.out.print(task.id))


@main.command()
@click.argument("task_id")
@json_flag
@handled
def get(task_id: str) -> None:
    """Show a task."""
    ctx = _context()
    _show_task(ctx, ctx.client.get(task_id))


def _show_result(ctx: Context, result: TaskResult) -> None:
    def human() -> None:
        ctx.out.print(f"{result.status}  {result.task_id}  {_when(result.completed_at)}")
        if result.error:
            ctx.out.print(f"error: {result.error}")
        if result.result is not None:
            ctx.out.print(json.dumps(result.result, indent=2))
        for artifact in result.artifacts:
            ctx.out.print(f"artifact {artifact.name}: {artifact.url}")

    ctx.emit(result.raw, human)


@main.command()
@click.argument("task_id")
@click.option("--wait", type=click.FloatRange(0, 60), default=0, help="Seconds to wait for it (at most 60).")
@json_flag
@handled
def result(task_id: str, wait: float) -> None:
    """Show a task's result (exit 8 if there is none yet, 9 if the task FAILED)."""
    ctx = _context()
    found = ctx.client.result(task_id, wait=wait)
    if found is None:
        ctx.emit({"error": "result not found", "taskId": task_id}, lambda: ctx.err.print("no result yet"))
        sys.exit(NO_RESULT)
    _show_result(ctx, found)
    if not found.ok:
        sys.exit(FAILED)


@main.command()
@click.argument("task_id")
@json_flag
@handled
def cancel(task_id: str) -> None:
    """Withdraw a pending or delayed task (it ends FAILED with error CANCELLED)."""
    ctx = _context()
    task = ctx.client.cancel(task_id)
    ctx.emit(task.raw, lambda: ctx.out.print(f"cancelled {task.id}"))


# queues and the DLQ


@main.group(invoke_without_command=True)
@json_flag
@click.pass_context
@handled
def queues(click_ctx: click.Context) -> None:
    """Every command's depths (ready, delayed, in progress, dead-lettered) and settings; pause, resume, limit."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = _context()
    counts = ctx.client.queues()

    def human() -> None:
        table = _table("command", "ready", "delayed", "in progress", "dlq", "claims", "max in flight")
        for column in table.columns[1:5]:
            column.justify = "right"
        for c in counts.values():
            table.add_row(c.command, str(c.ready), str(c.delayed), str(c.in_progress), str(c.dlq),
                          "paused" if c.paused else "running", str(c.max_in_flight or "-"))  # fmt: skip
        ctx.out.print(table if counts else "no queues")

    data = {c.command: {"ready": c.ready, "delayed": c.delayed, "inProgress": c.in_progress, "dlq": c.dlq,
                        "paused": c.paused, "maxInFlight": c.max_in_flight}
            for c in counts.values()}  # fmt: skip
    ctx.emit(data, human)


def _show_settings(ctx: Context, settings: QueueSettings) -> None:
    data = {"command": settings.command, "paused": settings.paused, "maxInFlight": settings.max_in_flight}
    cap = settings.max_in_flight or "no cap"
    line = f"{settings.command}: {'paused' if settings.paused else 'running'}, max in flight {cap}"
    ctx.emit(data, lambda: ctx.out.print(line))


@queues.command("pause")
@click.argument("command")
@json_flag
@handled
def queues_pause(command: str) -> None:
    """Pause COMMAND: claims skip it until it is resumed; producers may still enqueue."""
    ctx = _context()
    _show_settings(ctx, ctx.client.pause_queue(command))


@queues.command("resume")
@click.argument("command")
@json_flag
@handled
def queues_resume(command: str) -> None:
    """Resume COMMAND: claims take its tasks again."""
    ctx = _context()
    _show_settings(ctx, ctx.client.resume_queue(command))


@queues.command("limit")
@click.argument("command")
@click.option("--max-in-flight", type=click.IntRange(1), help="Cap on COMMAND's tasks in flight.")
@click.option("--none", "lift", is_flag=True, help="Lift the cap.")
@json_flag
@handled
def queues_limit(command: str, max_in_flight: int | None, lift: bool) -> None:
    """Cap COMMAND's tasks in flight (--max-in-flight N), or lift the cap (--none)."""
    if (max_in_flight is None) == (not lift):
        raise click.UsageError("give either --max-in-flight N or --none")
    ctx = _context()
    _show_settings(ctx, ctx.client.set_queue_limits(command, max_in_flight=max_in_flight))


DAY = click.DateTime(["%Y-%m-%d"])


@main.command()
@click.option("--from", "since", type=DAY, help="First UTC day (default: 29 days before --to).")
@click.option("--to", "until", type=DAY, help="Last UTC day (default: today).")
@json_flag
@handled
def usage(since: datetime | None, until: datetime | None) -> None:
    """The tenant's usage per UTC day and its monthly quota (admin)."""
    ctx = _context()
    report = ctx.client.usage(since=since and since.date(), until=until and until.date())

    def human() -> None:
        quota = report.quota
        if quota is None:
            ctx.out.print("monthly quota: none")
        else:
            ctx.out.print(f"monthly quota: {quota.used} of {quota.limit} used, {quota.remaining} left, "
                          f"resets {_when(quota.resets_at)}")  # fmt: skip
        table = _table("day", "created", "completed", "failed", "dead", "requests", "payload bytes")
        for column in table.columns[1:]:
            column.justify = "right"
        for d in report.days:
            table.add_row(d.day.isoformat(), str(d.tasks_created), str(d.tasks_completed), str(d.tasks_failed),
                          str(d.tasks_dead_lettered), str(d.api_requests), str(d.payload_bytes))  # fmt: skip
        ctx.out.print(table)

    ctx.emit(report.raw, human)


@main.group()
def dlq() -> None:
    """A command's dead-letter queue: list, replay, purge."""


@dlq.command("list")
@click.argument("command")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--cursor", help="The next page's cursor, from the previous page.")
@json_flag
@handled
def dlq_list(command: str, limit: int, cursor: str | None) -> None:
    """The newest dead tasks of COMMAND."""
    ctx = _context()
    page = ctx.client.dlq(command, limit=limit, cursor=cursor)

    def human() -> None:
        table = _table("id", "died", "attempts", "error")
        for task in page.tasks:
            table.add_row(task.id, _when(task.dead_lettered_at), str(task.attempts), task.error or "")
        ctx.out.print(table if page.tasks else "the DLQ is empty")
        if page.next_cursor:
            ctx.out.print(f"more: --cursor {page.next_cursor}")

    ctx.emit({"tasks": [t.raw for t in page.tasks], "nextCursor": page.next_cursor}, human)


@dlq.command("replay")
@click.argument("command")
@click.argument("task_ids", nargs=-1)
@json_flag
@handled
def dlq_replay(command: str, task_ids: tuple[str, ...]) -> None:
    """Put dead tasks back in COMMAND's queue: the TASK_IDS given, or all of them."""
    ctx = _context()
    if task_ids:
        for task_id in task_ids:
            ctx.client.requeue(task_id)
        count = len(task_ids)
    else:
        count, remaining = 0, True
        while remaining:
            step = ctx.client.requeue_dlq(command, limit=1000)
            count, remaining = count + step.count, step.remaining
    ctx.emit({"requeued": count}, lambda: ctx.out.print(f"requeued {count} task(s)"))


@dlq.command("purge")
@click.argument("command")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_flag
@handled
def dlq_purge(command: str, yes: bool) -> None:
    """Delete every dead task of COMMAND."""
    ctx = _context()
    if not yes and not click.confirm(f"Delete every dead task of {command}?", err=True):
        sys.exit(ERROR)
    count, remaining = 0, True
    while remaining:
        step = ctx.client.purge_dlq(command, limit=1000)
        count, remaining = count + step.count, step.remaining
    ctx.emit({"deleted": count}, lambda: ctx.out.print(f"deleted {count} task(s)"))


# schedules


@main.group()
def schedules() -> None:
    """Recurring schedules: list, get, put, delete."""


def _schedule_table(ctx: Context, items: list[Schedule]) -> None:
    table = _table("name", "cron", "timezone", "command", "next run", "last task", "state")
    for s in items:
        table.add_row(s.name, s.spec.cron, s.spec.timezone, s.spec.command, _when(s.next_run_at),
                      s.last_task_id or "-", "paused" if s.spec.paused else "active")  # fmt: skip
    ctx.out.print(table if items else "no schedules")


@schedules.command("list")
@json_flag
@handled
def schedules_list() -> None:
    ctx = _context()
    items = ctx.client.schedules()
    ctx.emit([s.raw for s in items], lambda: _schedule_table(ctx, items))


@schedules.command("get")
@click.argument("name")
@json_flag
@handled
def schedules_get(name: str) -> None:
    ctx = _context()
    schedule = ctx.client.schedule(name)
    ctx.emit(schedule.raw, lambda: _schedule_table(ctx, [schedule]))


@schedules.command("put")
@click.argument("name")
@click.option("--cron", required=True, help="5 fields, @hourly, or @every 30s.")
@click.option("--command", required=True)
@click.option("--payload", default="{}", show_default=True, help="JSON.")
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--priority", type=click.IntRange(0, 9), default=0)
@click.option("--max-attempts", type=click.IntRange(0, 100), default=0, help="0: the default (5).")
@click.option("--webhook")
@click.option("--paused", is_flag=True)
@json_flag
@handled
def schedules_put(name: str, payload: str, **spec: Any) -> None:
    """Create or replace the schedule NAME."""
    ctx = _context()
    schedule = ctx.client.put_schedule(name, ScheduleSpec(payload=json_value(payload, "--payload"), **spec))
    ctx.emit(schedule.raw, lambda: _schedule_table(ctx, [schedule]))


@schedules.command("delete")
@click.argument("name")
@json_flag
@handled
def schedules_delete(name: str) -> None:
    ctx = _context()
    ctx.client.delete_schedule(name)
    ctx.emit({"deleted": name}, lambda: ctx.out.print(f"deleted {name}"))


# tokens


@main.group()
def tokens() -> None:
    """The tenant's API tokens: list, issue, revoke."""


def _token_table(ctx: Context, items: list[ApiToken]) -> None:
    table = _table("id", "name", "role", "created", "last used", "expires", "revoked")
    for t in items:
        table.add_row(str(t.id), t.name, t.role, _when(t.created), _when(t.last_used_at), _when(t.expires_at),
                      _when(t.revoked_at))  # fmt: skip
    ctx.out.print(table if items else "no tokens")


@tokens.command("list")
@json_flag
@handled
def tokens_list() -> None:
    ctx = _context()
    items = ctx.client.tokens()
    ctx.emit([t.raw for t in items], lambda: _token_table(ctx, items))


@tokens.command("issue")
@click.argument("name")
@click.option("--role", type=click.Choice(["producer", "worker", "admin"]), required=True)
@click.option("--expires-in-days", type=click.IntRange(1, 3650))
@json_flag
@handled
def tokens_issue(name: str, role: str, expires_in_days: int | None) -> None:
    """Issue a token; its bearer is printed this once."""
    ctx = _context()
    issued = ctx.client.issue_token(name, role, expires_in_days=expires_in_days)
    ctx.emit(
        issued.raw, lambda: ctx.out.print(f"token {issued.id} ({issued.role}); bearer, shown once:\n{issued.token}")
    )


@tokens.command("revoke")
@click.argument("token_id", type=int)
@json_flag
@handled
def tokens_revoke(token_id: int) -> None:
    ctx = _context()
    revoked = ctx.client.revoke_token(token_id)
    ctx.emit(revoked.raw, lambda: ctx.out.print(f"revoked token {revoked.id}"))


# webhooks


@main.group()
def webhooks() -> None:
    """Webhook subscriptions and their deliveries."""


def _webhook_table(ctx: Context, items: list[WebhookSubscription]) -> None:
    table = _table("id", "url", "events", "commands", "state")
    for w in items:
        state = "active" if w.active else f"paused ({w.paused_reason})" if w.paused_reason else "inactive"
        table.add_row(str(w.id), w.url, ",".join(w.events), ",".join(w.commands) or "*", state)
    ctx.out.print(table if items else "no webhook subscriptions")


@webhooks.command("list")
@json_flag
@handled
def webhooks_list() -> None:
    ctx = _context()
    items = ctx.client.webhooks()
    ctx.emit([w.raw for w in items], lambda: _webhook_table(ctx, items))


@webhooks.command("create")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True,
              type=click.Choice(["task.completed", "task.failed", "task.dead", "task.available"]))  # fmt: skip
@click.option("--command", "commands", multiple=True, help="Only these commands (default: all).")
@json_flag
@handled
def webhooks_create(url: str, events: tuple[str, ...], commands: tuple[str, ...]) -> None:
    """Subscribe URL to events; its signing secret is printed this once."""
    ctx = _context()
    sub = ctx.client.create_webhook(url, events, commands=commands)
    ctx.emit(sub.raw, lambda: ctx.out.print(f"subscription {sub.id}; signing secret, shown once:\n{sub.secret}"))


@webhooks.command("update")
@click.argument("subscription_id", type=int)
@click.option("--url")
@click.option("--active/--inactive", default=None, help="--active resumes a paused subscription.")
@json_flag
@handled
def webhooks_update(subscription_id: int, url: str | None, active: bool | None) -> None:
    ctx = _context()
    sub = ctx.client.update_webhook(subscription_id, url=url, active=active)
    ctx.emit(sub.raw, lambda: _webhook_table(ctx, [sub]))


@webhooks.command("delete")
@click.argument("subscription_id", type=int)
@json_flag
@handled
def webhooks_delete(subscription_id: int) -> None:
    ctx = _context()
    ctx.client.delete_webhook(subscription_id)
    ctx.emit({"deleted": subscription_id}, lambda: ctx.out.print(f"deleted subscription {subscription_id}"))


@webhooks.command("rotate")
@click.argument("subscription_id", type=int)
@click.option("--grace", type=click.IntRange(0, 2_592_000), help="Seconds the old secret keeps signing (1 day).")
@json_flag
@handled
def webhooks_rotate(subscription_id: int, grace: int | None) -> None:
    """A new signing secret for the subscription, printed this once."""
    ctx = _context()
    rotated = ctx.client.rotate_webhook_secret(subscription_id, grace_seconds=grace)
    ctx.emit({"secret": rotated.secret, "previousSecretExpiresAt": rotated.previous_secret_expires_at},
             lambda: ctx.out.print(rotated.secret))  # fmt: skip


@webhooks.command("signing-secret")
@click.option("--grace", type=click.IntRange(0, 2_592_000), help="Seconds the old secret keeps signing (1 day).")
@json_flag
@handled
def webhooks_signing_secret(grace: int | None) -> None:
    """Rotate the tenant's own secret (result callbacks, worker wake-ups); printed this once."""
    ctx = _context()
    rotated = ctx.client.rotate_signing_secret(grace_seconds=grace)
    ctx.emit({"secret": rotated.secret, "previousSecretExpiresAt": rotated.previous_secret_expires_at},
             lambda: ctx.out.print(rotated.secret))  # fmt: skip


@webhooks.command("deliveries")
@click.argument("subscription_id", type=int)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--cursor")
@json_flag
@handled
def webhooks_deliveries(subscription_id: int, limit: int, cursor: str | None) -> None:
    """The subscription's recent deliveries, newest first."""
    ctx = _context()
    page = ctx.client.deliveries(subscription_id, limit=limit, cursor=cursor)

    def human() -> None:
        table = _table("id", "event", "task", "status", "attempts", "last answer", "updated")
        for d in page.deliveries:
            last = d.attempt_log[-1] if d.attempt_log else None
            answer = "-" if last is None else str(last.status_code or last.error or "-")
            table.add_row(d.id, d.event_type, d.task_id or "-", d.status, f"{d.attempts}/{d.max_attempts}", answer,
                          _when(d.updated_at))  # fmt: skip
        ctx.out.print(table if page.deliveries else "no deliveries")
        if page.next_cursor:
            ctx.out.print(f"more: --cursor {page.next_cursor}")

    ctx.emit({"deliveries": [d.raw for d in page.deliveries], "nextCursor": page.next_cursor}, human)


@webhooks.command("test")
@click.argument("subscription_id", type=int)
@json_flag
@handled
def webhooks_test(subscription_id: int) -> None:
    """Send a signed webhook.test event to the subscription."""
    ctx = _context()
    queued = ctx.client.test_webhook(subscription_id)
    ctx.emit({"deliveryId": queued.delivery_id, "status": queued.status},
             lambda: ctx.out.print(f"queued delivery {queued.delivery_id}"))  # fmt: skip


@webhooks.command("redeliver")
@click.argument("delivery_id")
@json_flag
@handled
def webhooks_redeliver(delivery_id: str) -> None:
    """Send a finished delivery again."""
    ctx = _context()
    queued = ctx.client.redeliver(delivery_id)
    ctx.emit({"deliveryId": queued.delivery_id, "status": queued.status},
             lambda: ctx.out.print(f"queued delivery {queued.delivery_id}"))  # fmt: skip


# workers


def load_app(target: str) -> App:
    """The ``App`` named by ``module[:attribute]``: the attribute, else ``app``, else the module's only App."""
    module_name, _, attribute = target.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: the worker's own modules are found
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.UsageError(f"cannot import {module_name}: {exc}") from None
    if attribute:
        found = getattr(module, attribute, None)
    elif isinstance(getattr(module, "app", None), App):
        found = module.app
    else:
        apps = [value for value in vars(module).values() if isinstance(value, App)]
        found = apps[0] if len(apps) == 1 else None
    if not isinstance(found, App):
        raise click.UsageError(f"{target} names no codeq.App (use module:attribute)")
    return found


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("HOST:PORT")
    return host, int(port)


@main.command()
@click.argument("target")
@click.option("--concurrency", "-c", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--lease", "lease_seconds", type=click.IntRange(1, 43_200), default=60, show_default=True,
              help="Lease seconds; heartbeats renew it every third.")  # fmt: skip
@click.option("--grace", "grace_seconds", type=click.FloatRange(0), default=30, show_default=True,
              help="Seconds in-flight tasks get to finish on SIGTERM/SIGINT before they are given back.")  # fmt: skip
@click.option("--poll-wait", type=click.IntRange(0, 30), default=5, show_default=True,
              help="Long-poll seconds per claim while the queues are empty.")  # fmt: skip
@click.option("--wakeup-listen", help="HOST:PORT of a wake-up receiver; the worker subscribes it.")
@click.option("--wakeup-url", help="The receiver's URL as the platform reaches it (default: http://HOST:PORT/).")
@click.option("--wakeup-secret", envvar="CODEQ_WEBHOOK_SECRET", help="The tenant's whsec_ signing secret.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
@handled
def worker(target: str, wakeup_listen: str | None, wakeup_url: str | None, wakeup_secret: str | None,
           log_level: str, **options: Any) -> None:  # fmt: skip
    """Run the handlers of TARGET (module or module:attribute, a codeq.App) until SIGTERM/SIGINT."""
    ctx = _context()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the worker's own
    app = load_app(target)
    try:
        settings = resolve(url=ctx.url, token=ctx.token, profile=ctx.profile)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if not settings.token:
        raise click.UsageError("a worker needs a token: CODEQ_TOKEN or --token")
    wakeups = None
    if wakeup_listen:
        if not wakeup_secret:
            raise click.UsageError("--wakeup-listen needs --wakeup-secret (or CODEQ_WEBHOOK_SECRET)")
        host, port = _address(wakeup_listen)
        wakeups = WakeupReceiver(secret=wakeup_secret, host=host, port=port, url=wakeup_url)
    Worker(app, url=settings.url, token=settings.token, wakeups=wakeups, **options).run()
