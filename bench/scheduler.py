"""Scheduler benchmark: the 1-second jobs' tick time and store calls as the tenant count grows.

Usage: python bench/scheduler.py [--json] [--tenants 100,10000] [--active 100] [--ticks 30]
Environment: CODEQ_KV_URL (default redis://127.0.0.1:6379/0); DATABASE_URL (default: SQLite in a
temporary folder, migrated by the run).

For each tenant count N, N tenants exist, of which ``--active`` (default 100: 1% of 10,000, all of
them at N=100, so both counts see the same activity) are busy: each holds ready, leased and delayed
tasks, and between two ticks it creates a task, claims one and completes it. The others are idle but
not empty: each keeps a task delayed by an hour, as tenants do. One tick runs the 1-second jobs one
after the other, as the scheduler runs them: sweep (lease expiry and delayed promotion), stats,
schedules, webhook outbox. Figures per N (suffix ``_at_<N>``):
  tick_ms_p50, tick_ms_p99      the four jobs of one tick together
  <job>_ms_p99                  each job alone
  store_calls_per_tick          requests the jobs send to the store in one tick (a pipeline counts once)
Tenants, tasks and keys are created under fresh names and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/, whose http.py would shadow the standard library's

RUN = uuid.uuid4().hex[:6]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeq_platform.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("CODEQ_KV_URL", "redis://127.0.0.1:6379/0")
os.environ["CODEQ_KV_PREFIX"] = f"cqsched{RUN}"
if not os.environ.get("DATABASE_URL"):
    os.environ["CODEQ_VAR_DIR"] = tempfile.mkdtemp(prefix="codeq-bench-")

import django  # noqa: E402

django.setup()

import redis.asyncio.connection  # noqa: E402
import redis.connection  # noqa: E402
from django.core.management import call_command  # noqa: E402

from codeq_platform.base import kv  # noqa: E402
from codeq_platform.engine import Engine, NewTask  # noqa: E402
from codeq_platform.scheduler import jobs, schedules, stats  # noqa: E402
from codeq_platform.webhooks import deliveries  # noqa: E402
from tenants import services  # noqa: E402
from tenants.models import Tenant  # noqa: E402

JOBS = (("sweep", jobs.sweep), ("stats", stats.broadcast), ("schedules", schedules.fire_due),
        ("outbox", deliveries.move_outbox))  # fmt: skip


class Requests:
    """Counts requests sent to the store by every redis-py connection of the process (sync and asyncio)."""

    count = 0

    @classmethod
    def install(cls) -> None:
        for connection_class in (redis.connection.AbstractConnection, redis.asyncio.connection.AbstractConnection):

            def counted(self, *args, _send=connection_class.send_packed_command, **kwargs):
                cls.count += 1
                return _send(self, *args, **kwargs)

            connection_class.send_packed_command = counted


def slug(i: int) -> str:
    return f"b{RUN}-{i}"


def populate(total: int, active: int) -> list[str]:
    """``total`` tenants, ``active`` of them busy; returns the busy ones."""
    existing = Tenant.objects.filter(slug__startswith=f"b{RUN}-").count()
    Tenant.objects.bulk_create([Tenant(slug=slug(i), name=slug(i)) for i in range(existing, total)])
    engine = kv.sync_engine()
    # Idle tenants last did something an hour ago: their task is due an hour from now.
    an_hour_ago = Engine(engine.client, engine.config, clock=lambda: time.time() - 3600)
    for i in range(existing, total):
        name = slug(i)
        if i < active:
            engine.enqueue_batch(name, [NewTask(f"cmd{c}", {"i": j}) for c in range(2) for j in range(15)])
            engine.claim(name, "bench-worker", ["cmd0", "cmd1"], lease_ms=300_000, count=5)
            engine.enqueue_batch(name, [NewTask("cmd0", {"later": j}, delay_ms=3_600_000) for j in range(5)])
        else:
            an_hour_ago.enqueue(name, NewTask("cmd0", {"later": True}, delay_ms=7_200_000))
    an_hour_ago.close()
    for i in range(min(10, active)):
        tenant = Tenant.objects.get(slug=slug(i))
        services.put_schedule(tenant=tenant, name="tick", spec=services.ScheduleSpec(cron="@every 1s",
                                                                                     command="cmd1"))  # fmt: skip
    return [slug(i) for i in range(active)]


def busy(active: list[str]) -> None:
    engine = kv.sync_engine()
    for name in active:
        engine.enqueue(name, NewTask("cmd0", {"busy": True}))
        for task in engine.claim(name, "bench-worker", ["cmd0", "cmd1"], lease_ms=300_000):
            engine.complete(name, task.id, "bench-worker", {"ok": True})


def ticks(active: list[str], count: int) -> dict[str, float]:
    totals: list[float] = []
    per_job: dict[str, list[float]] = {name: [] for name, _ in JOBS}
    calls: list[int] = []
    for _ in range(count):
        busy(active)
        Requests.count = 0
        tick = 0.0
        for name, job in JOBS:
            started = time.perf_counter()
            job()
            elapsed = (time.perf_counter() - started) * 1000
            per_job[name].append(elapsed)
            tick += elapsed
        calls.append(Requests.count)
        totals.append(tick)
    totals.sort()
    figures = {"tick_ms_p50": statistics.median(totals), "tick_ms_p99": totals[max(int(len(totals) * 0.99) - 1, 0)]}
    for name, times in per_job.items():
        times.sort()
        figures[f"{name}_ms_p99"] = times[max(int(len(times) * 0.99) - 1, 0)]
    figures["store_calls_per_tick"] = statistics.median(calls)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON line per figure")
    parser.add_argument("--tenants", default="100,10000", help="tenant counts, ascending (default 100,10000)")
    parser.add_argument("--active", type=int, default=100, help="busy tenants (default 100)")
    parser.add_argument("--ticks", type=int, default=30, help="ticks measured per tenant count (default 30)")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    Requests.install()
    figures: dict[str, float] = {}
    try:
        for total in sorted(int(n) for n in args.tenants.split(",")):
            active = populate(total, min(args.active, total))
            ticks(active, 3)  # warm-up: first looks, index settled
            for name, value in ticks(active, args.ticks).items():
                figures[f"{name}_at_{total}"] = value
    finally:
        Tenant.objects.filter(slug__startswith=f"b{RUN}-").delete()
        client = kv.sync_engine().client
        for key in client.scan_iter(match=f"{os.environ['CODEQ_KV_PREFIX']}:*", count=1000):
            client.unlink(key)
    if args.json:
        for name, value in figures.items():
            print(json.dumps({"metric": name, "value": round(value, 1)}))
    else:
        print(f"{'metric':<32}{'value':>12}   (active={args.active}, store={os.environ['CODEQ_KV_URL']})")
        for name, value in figures.items():
            print(f"{name:<32}{value:>12,.1f}")


if __name__ == "__main__":
    main()
