"""What tenants use, per UTC day, and the live figures of the staff console.

Counting happens on the hot path without a database write: the engine's scripts count tasks created,
completed, failed and dead-lettered and the payload bytes accepted in each shard's counters hash
(``engine.keys.usage_field``), in the script that makes the change; the API counts requests into shard
0's hash and each minute's requests and 429s into a per-hour traffic hash (``engine.keys.traffic_key``).

``roll_up`` (a scheduler job) copies the store's absolute daily totals into ``UsageDay`` by
(tenant, day) upsert: running it twice, or again after a crash, writes the same rows, so no day is
lost or counted twice. The store keeps each day's fields for ``KEEP_DAYS`` (the monthly quota reads the
whole current month from there); older ones are removed once rolled up.
"""

from __future__ import annotations

import calendar
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import redis
from django.conf import settings
from django.db.models import Max

from codeq_platform.base import kv
from codeq_platform.engine.keys import DAY_MS, keyspace, traffic_key, usage_field
from codeq_platform.errors import InvalidInput, StoreUnavailable
from tenants.models import Tenant, UsageDay

EPOCH = date(1970, 1, 1)
KEEP_DAYS = 40
MAX_DAYS = 366
# Store field name -> UsageDay column.
COLUMNS = {"created": "tasks_created", "completed": "tasks_completed", "failed": "tasks_failed",
           "dead": "tasks_dead", "requests": "api_requests", "bytes": "payload_bytes"}  # fmt: skip


def day_number(day: date) -> int:
    return (day - EPOCH).days


def day_of(number: int) -> date:
    return EPOCH + timedelta(days=number)


def today_number(now: float | None = None) -> int:
    return int((time.time() if now is None else now) * 1000) // DAY_MS


def month_days(now: float | None = None) -> tuple[list[int], int]:
    """The day numbers of the current UTC month up to today, and the next month's start (epoch seconds)."""
    today = day_of(today_number(now))
    first = today.replace(day=1)
    days_in = calendar.monthrange(today.year, today.month)[1]
    reset = datetime(today.year, today.month, days_in, tzinfo=UTC) + timedelta(days=1)
    return list(range(day_number(first), day_number(today) + 1)), int(reset.timestamp())


def _client():
    return kv.sync_engine().link.client


def _execute(pipe) -> list:
    """Run a pipeline; StoreUnavailable when the store does not answer (pages say so, the API answers 503)."""
    try:
        return pipe.execute()
    except redis.RedisError as exc:
        raise StoreUnavailable(f"the queue store is unavailable: {exc}") from exc


def _int(value) -> int:
    return int(value) if value is not None else 0


def store_days(tenant: Tenant, days: Iterable[int]) -> dict[int, dict[str, int]]:
    """The store's absolute totals of ``tenant`` for each of ``days``, summed over its shards."""
    days = list(days)
    names = list(COLUMNS)
    fields = [usage_field(day, name) for day in days for name in names]
    ks = keyspace(settings.CODEQ_KV_PREFIX, tenant.slug, tenant.shards)
    pipe = _client().pipeline(transaction=False)
    for shard in range(tenant.shards):
        pipe.hmget(ks.key(shard, "stats"), fields)
    out = {day: dict.fromkeys(names, 0) for day in days}
    for reply in _execute(pipe):
        for i, value in enumerate(reply):
            out[days[i // len(names)]][names[i % len(names)]] += _int(value)
    return out


@dataclass
class DayUsage:
    day: date
    tasks_created: int = 0
    tasks_completed: int = 0
    tasks_failed: int = 0
    tasks_dead: int = 0
    api_requests: int = 0
    payload_bytes: int = 0


def usage_between(tenant: Tenant, first: date, last: date) -> list[DayUsage]:
    """One row per day from ``first`` to ``last`` (inclusive): the larger of the rolled-up row and the
    store's live totals, for the days the store still holds (today among them)."""
    rows = {row.day: row for row in UsageDay.objects.filter(tenant=tenant, day__range=(first, last))}
    today = today_number()
    live_from = max(day_number(first), today - KEEP_DAYS + 1)
    live_to = min(day_number(last), today)
    live = store_days(tenant, range(live_from, live_to + 1)) if live_from <= live_to else {}
    out = []
    for n in range(day_number(first), day_number(last) + 1):
        entry = DayUsage(day_of(n))
        row = rows.get(day_of(n))
        for name, column in COLUMNS.items():
            # Counters only grow and the roll-up copies them, so the larger figure is the true one; the
            # row's wins when the store lost a day it had already rolled up.
            setattr(entry, column, max(live[n][name] if n in live else 0, getattr(row, column) if row else 0))
        out.append(entry)
    return out


def month_created(tenant: Tenant) -> int:
    """Tasks created this UTC month (the quota's count)."""
    days, _ = month_days()
    return sum(totals["created"] for totals in store_days(tenant, days).values())


@dataclass(frozen=True)
class Quota:
    """A tenant's monthly task quota as it stands: ``used`` of ``limit``, until ``resets_at`` (UTC)."""

    limit: int
    used: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


def quota_of(tenant: Tenant) -> Quota | None:
    """The tenant's quota this month, or None when it has none."""
    if not tenant.monthly_task_quota:
        return None
    _, resets_at = month_days()
    return Quota(limit=tenant.monthly_task_quota, used=month_created(tenant),
                 resets_at=datetime.fromtimestamp(resets_at, UTC))  # fmt: skip


def requested_range(raw_from: str | None, raw_to: str | None, *, default_days: int = 30) -> tuple[date, date]:
    """The UTC days a usage request asks for: ``to`` defaults to today, ``from`` to ``default_days`` days up
    to ``to``; InvalidInput (naming the field) for a date that is not YYYY-MM-DD, a reversed range or one
    longer than ``MAX_DAYS``."""
    last = _requested_day("to", raw_to) or day_of(today_number())
    first = _requested_day("from", raw_from) or last - timedelta(days=default_days - 1)
    if first > last:
        raise InvalidInput("from: must not be after to", field="from")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"from: the range is at most {MAX_DAYS} days", field="from")
    return first, last


def _requested_day(name: str, raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name}: expected a date, YYYY-MM-DD", field=name) from None


def roll_up(now: float | None = None) -> int:
    """The scheduler job: upsert every tenant's daily totals from the last rolled-up day to today, then
    drop the store's fields of days past ``KEEP_DAYS``. Returns the rows written."""
    today = today_number(now)
    last_rolled = dict(UsageDay.objects.values_list("tenant_id").annotate(last=Max("day")))
    written = 0
    for tenant in Tenant.objects.all():
        kv.register_tenant(tenant.slug, tenant.shards)
        start = day_number(last_rolled[tenant.pk]) if tenant.pk in last_rolled else today - KEEP_DAYS + 1
        start = max(start, today - KEEP_DAYS + 1)
        totals = store_days(tenant, range(start, today + 1))
        rows = [UsageDay(tenant=tenant, day=day_of(n), **{COLUMNS[k]: v for k, v in values.items()})
                for n, values in totals.items() if any(values.values())]  # fmt: skip
        UsageDay.objects.bulk_create(rows, update_conflicts=True, unique_fields=["tenant", "day"],
                                     update_fields=list(COLUMNS.values()))  # fmt: skip
        written += len(rows)
        _forget_old_days(tenant, today)
    return written


def _forget_old_days(tenant: Tenant, today: int) -> None:
    """Remove the fields of the ten days before the kept window (each run sees the next day pass out)."""
    old = [usage_field(n, name) for n in range(today - KEEP_DAYS - 10, today - KEEP_DAYS + 1) for name in COLUMNS]
    ks = keyspace(settings.CODEQ_KV_PREFIX, tenant.slug, tenant.shards)
    pipe = _client().pipeline(transaction=False)
    for shard in range(tenant.shards):
        pipe.hdel(ks.key(shard, "stats"), *old)
    _execute(pipe)


@dataclass
class LiveFigures:
    """A tenant's figures as the staff console shows them."""

    created_today: int = 0
    completed_today: int = 0
    failed_today: int = 0
    in_flight: int = 0
    dlq: int = 0
    footprint_bytes: int = 0
    requests_last_hour: int = 0
    throttled_last_hour: int = 0
    commands: list[str] = field(default_factory=list)

    @property
    def requests_per_second(self) -> float:
        return self.requests_last_hour / 3600


def live_figures(tenants: list[Tenant], now: float | None = None) -> dict[int, LiveFigures]:
    """Live figures of many tenants in two pipelined round trips, however many tenants: counters, lease
    sets, command sets, record sizes and traffic first, then each command's DLQ size."""
    now = time.time() if now is None else now
    today = today_number(now)
    minute = int(now // 60)
    prefix = settings.CODEQ_KV_PREFIX
    fields = [usage_field(today, name) for name in ("created", "completed", "failed")]
    client = _client()
    pipe = client.pipeline(transaction=False)
    plan: list[tuple[int, str, int]] = []
    for tenant in tenants:
        ks = keyspace(prefix, tenant.slug, tenant.shards)
        for shard in range(tenant.shards):
            pipe.hmget(ks.key(shard, "stats"), fields)
            pipe.zcard(ks.key(shard, "leases"))
            pipe.smembers(ks.key(shard, "cmds"))
            pipe.memory_usage(ks.key(shard, "tasks"))
            pipe.memory_usage(ks.key(shard, "results"))
            plan.append((tenant.pk, "shard", shard))
        for hour in (minute // 60 - 1, minute // 60):
            pipe.hgetall(traffic_key(prefix, tenant.slug, hour))
            plan.append((tenant.pk, "traffic", hour))
    replies = iter(_execute(pipe))
    out: dict[int, LiveFigures] = {tenant.pk: LiveFigures() for tenant in tenants}
    commands: dict[tuple[int, int], list[str]] = defaultdict(list)
    for tenant_pk, kind, shard in plan:
        figures = out[tenant_pk]
        if kind == "shard":
            created, completed, failed = next(replies)
            figures.created_today += _int(created)
            figures.completed_today += _int(completed)
            figures.failed_today += _int(failed)
            figures.in_flight += next(replies)
            names = sorted(name.decode() for name in next(replies))
            commands[(tenant_pk, shard)] = names
            figures.commands = sorted(set(figures.commands) | set(names))
            figures.footprint_bytes += _int(next(replies)) + _int(next(replies))
        else:
            for key, value in next(replies).items():
                at, _, kind_of = key.decode().partition(":")
                if minute - 60 < int(at) <= minute:
                    if kind_of == "429":
                        figures.throttled_last_hour += int(value)
                    else:
                        figures.requests_last_hour += int(value)
    pipe = client.pipeline(transaction=False)
    by_pk = {tenant.pk: tenant for tenant in tenants}
    order = []
    for (tenant_pk, shard), names in commands.items():
        tenant = by_pk[tenant_pk]
        ks = keyspace(prefix, tenant.slug, tenant.shards)
        for name in names:
            pipe.zcard(ks.dlq_key(shard, name))
            order.append(tenant_pk)
    for tenant_pk, size in zip(order, _execute(pipe) if order else [], strict=True):
        out[tenant_pk].dlq += size
    return out
