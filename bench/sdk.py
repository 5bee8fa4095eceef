"""Python client benchmark: tasks enqueued with ``codeq.AsyncClient`` and drained by ``codeq worker`` processes,
end to end through the HTTP API, optionally beside Celery on the same Redis.

Usage: python bench/sdk.py [--json] [--tasks N] [--workers W] [--celery PYTHON] [--stores redis,kvrocks]
Starts granian with 2 worker processes (as bench/http.py does; PostgreSQL and the KV store named by
DATABASE_URL / CODEQ_KV_URL, else SQLite and the embedded KV), creates a bench tenant without limits, then:
  sdk_enqueue_per_s          N no-op tasks created in batches of 100, 4 batches in flight
  sdk_drain_per_s            those N tasks run by W ``codeq worker`` processes (async no-op handler,
                             concurrency 50) and their results reported
  sdk_drain_threads_per_s    the same with a plain-function handler (run on threads)
A drain rate counts from the first task seen done to the last, so process start-up is left out; the queue
is full before the workers start. With ``--celery PYTHON`` (the interpreter of a virtualenv where Celery 5 and
its Redis extra are installed, never this project's) the same N no-op tasks are drained by Celery on the
store's Redis, results off, with its default prefetch multiplier (4) and with 64:
  celery_solo_prefetch<P>_drain_per_s      W ``celery worker -P solo`` processes
  celery_prefork_prefetch<P>_drain_per_s   one ``celery worker -P prefork -c W``
  sdk_vs_celery                            sdk_drain_per_s / the best Celery drain
``--stores`` runs all of it on each store named (see bench/_stores.py: ``kvrocks`` starts a stock KVRocks
from CODEQ_KVROCKS_BIN) and names each figure for its store; Celery's broker is then that store too. Every
client of the store here is the platform's own (``codeq_platform/engine/store.py``: RESP2, which stock
KVRocks speaks).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# This script's folder comes first on the path, where bench/http.py would shadow the standard library's http
# package, which httpx imports: the repository root takes its place.
sys.path[0] = str(ROOT)

import codeq  # noqa: E402

from codeq_platform.engine.store import connect as connect_store  # noqa: E402


def _sibling(name: str) -> Any:
    """A module of this folder, loaded by path (this folder is not on the path: see above)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_stores = sys.modules["_stores"] = _sibling("_stores")  # bench/http.py imports it by that name
bench_http = _sibling("http")

PREFIX = "cqbenchsdk"
PREFETCH = (4, 64)  # Celery's default prefetch multiplier, and one its docs suggest for many short tasks
HANDLERS = """
import codeq

app = codeq.App()


@app.task("bench.async")
async def noop(job):
    return None


@app.task("bench.threads")
def noop_on_a_thread(job):
    return None
"""
CELERY_APP = """
import os

from celery import Celery
from kombu.transport import redis as kombu_redis

# redis-py 8 speaks RESP3 unless told otherwise, and Celery has no setting for it; stock KVRocks speaks RESP2
_connparams = kombu_redis.Channel._connparams
kombu_redis.Channel._connparams = lambda self, asynchronous=False: {**_connparams(self, asynchronous), "protocol": 2}

app = Celery("bench", broker=os.environ["BENCH_BROKER"])
app.conf.update(task_ignore_result=True, task_default_queue=os.environ["BENCH_QUEUE"], worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True,
                worker_prefetch_multiplier=int(os.environ["BENCH_PREFETCH"]))


@app.task(name="bench.noop")
def noop(payload):
    return None


if __name__ == "__main__":
    import sys
    for n in range(int(sys.argv[1])):
        noop.apply_async(({"n": n},))
"""


def prepare(env: dict[str, str]) -> dict[str, str]:
    """Migrate and create the bench tenant (no rate or queue limit) and a token of each role."""
    code = (
        "import django,json; django.setup()\n"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
        "from tenants import services; from tenants.models import Tenant\n"
        "t = Tenant.objects.filter(slug='sdkbench').first() or services.create_tenant(slug='sdkbench', name='SDK')\n"
        "t.requests_per_second = 0; t.max_queued_tasks = 0; t.save()\n"
        "print(json.dumps({r: services.issue_token(tenant=t, name=f'sdk-{r}', role=r).bearer\n"
        "                  for r in ('producer', 'worker', 'admin')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


async def enqueue(url: str, token: str, command: str, n: int, in_flight: int = 4) -> float:
    """Seconds to create ``n`` tasks in batches of 100."""
    batches = [[{"command": command, "payload": {"n": i}} for i in range(s, min(s + 100, n))] for s in range(0, n, 100)]
    async with codeq.AsyncClient(url, token, connections=in_flight) as client:
        started = time.perf_counter()

        async def send(mine: list[list[dict]]) -> None:
            for batch in mine:
                refused = [o for o in await client.create_batch(batch) if isinstance(o, codeq.models.ItemError)]
                assert not refused, refused[0].message

        await asyncio.gather(*(send(batches[i::in_flight]) for i in range(in_flight)))
        return time.perf_counter() - started


def drain_rate(n: int, done: Callable[[], int], workers: list[subprocess.Popen], limit: float = 600) -> float:
    """Tasks per second from the first seen done to the last: ``done()`` polled every 20 ms."""
    deadline = time.monotonic() + limit
    first_at, first_done = None, 0
    while True:
        count = done()
        now = time.perf_counter()
        if first_at is None and count > 0:
            first_at, first_done = now, count
        if count >= n:
            return (n - first_done) / (now - first_at) if now > first_at else float("inf")
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            raise SystemExit(f"drain stuck at {count}/{n}")
        time.sleep(0.02)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def sdk_drain(url: str, tokens: dict[str, str], command: str, n: int, workers: int, handlers: Path) -> float:
    admin = codeq.Client(url, tokens["admin"])
    env = {**os.environ, "CODEQ_URL": url, "CODEQ_TOKEN": tokens["worker"]}
    codeq_bin = str(Path(sys.executable).parent / "codeq")
    base = admin.queue(command).completed or 0  # read before any worker runs, or its first results are missed
    started = [subprocess.Popen([codeq_bin, "worker", "sdk_handlers", "--concurrency", "50", "--log-level", "warning"],
                                cwd=handlers, env=env) for _ in range(workers)]  # fmt: skip
    try:
        return drain_rate(n, lambda: (admin.queue(command).completed or 0) - base, started)
    finally:
        stop(started)
        admin.close()


def celery_drains(python: str, broker: str, n: int, workers: int, folder: Path) -> dict[str, float]:
    (folder / "celery_bench.py").write_text(CELERY_APP)
    queue = f"{PREFIX}-celery-{secrets.token_hex(4)}"
    env = {**os.environ, "BENCH_BROKER": broker, "BENCH_QUEUE": queue, "PYTHONPATH": str(folder)}
    store = connect_store(broker)
    celery = [python, "-m", "celery", "-A", "celery_bench", "worker", "-Q", queue, "--without-gossip",
              "--without-mingle", "--without-heartbeat", "-l", "warning"]  # fmt: skip
    pools = {
        "solo": [[*celery, "-P", "solo", "-n", f"solo{i}@%h"] for i in range(workers)],
        "prefork": [[*celery, "-P", "prefork", "-c", str(workers), "-n", "prefork@%h"]],
    }
    figures = {}
    try:
        for (pool, commands), prefetch in itertools.product(pools.items(), PREFETCH):
            run_env = {**env, "BENCH_PREFETCH": str(prefetch)}
            subprocess.run([python, str(folder / "celery_bench.py"), str(n)], env=run_env, cwd=folder, check=True)
            # Celery prints its banner and shutdown to stdout, which carries the figures
            started = [subprocess.Popen(c, env=run_env, cwd=folder, stdout=subprocess.DEVNULL) for c in commands]
            try:
                # queued, plus received but unacknowledged: what is neither is done (up to the few running)
                rate = drain_rate(n, lambda: n - store.llen(queue) - store.hlen("unacked"), started)
                figures[f"celery_{pool}_prefetch{prefetch}_drain_per_s"] = rate
            finally:
                stop(started)
    finally:
        store.delete(queue, "unacked", "unacked_index")
        store.close()
    return figures


def measure(env: dict[str, str], args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """Every figure on the store ``env`` names."""
    tokens = prepare(env)
    port = bench_http.free_port()
    server = subprocess.Popen(bench_http.SERVERS["granian"](port), env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    figures: dict[str, float] = {}
    try:
        deadline = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        took = asyncio.run(enqueue(url, tokens["producer"], "bench.async", args.tasks))
        figures["sdk_enqueue_per_s"] = args.tasks / took
        figures["sdk_drain_per_s"] = sdk_drain(url, tokens, "bench.async", args.tasks, args.workers, folder)
        asyncio.run(enqueue(url, tokens["producer"], "bench.threads", args.tasks))
        figures["sdk_drain_threads_per_s"] = sdk_drain(url, tokens, "bench.threads", args.tasks, args.workers, folder)
    finally:
        server.terminate()
        server.wait(timeout=20)
        store = connect_store(env["CODEQ_KV_URL"])
        for key in store.scan_iter(match=f"{PREFIX}:*", count=1000):
            store.unlink(key)
        store.close()
    if args.celery:
        figures.update(celery_drains(args.celery, env["CODEQ_KV_URL"], args.tasks, args.workers, folder))
        celery = [value for name, value in figures.items() if name.startswith("celery_")]
        figures["sdk_vs_celery"] = figures["sdk_drain_per_s"] / max(celery)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON line per figure")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="codeq worker (and Celery) processes")
    parser.add_argument("--celery", metavar="PYTHON", help="compare with Celery installed for this interpreter")
    parser.add_argument("--stores", default="", help="comma-separated: redis, kvrocks (default: CODEQ_KV_URL)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="codeq-sdk-bench-"))
    (tmp / "sdk_handlers.py").write_text(textwrap.dedent(HANDLERS))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "codeq_platform.settings", "CODEQ_VAR_DIR": str(tmp),
           "SECRET_KEY": os.environ.get("SECRET_KEY", secrets.token_urlsafe(48)), "CODEQ_KV_PREFIX": PREFIX,
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    figures: dict[str, float] = {}
    if not args.stores and not env.get("CODEQ_KV_URL"):
        from codeq_platform.base.embedded_kv import EmbeddedKV

        kv_server = EmbeddedKV(tmp / "kv")
        try:
            figures = measure({**env, "CODEQ_KV_URL": kv_server.start()}, args, tmp)
        finally:
            kv_server.stop()
    else:
        with bench_stores.stores(args.stores) as urls:
            for name, store_url in urls.items():
                figures.update(bench_stores.suffixed(measure({**env, "CODEQ_KV_URL": store_url}, args, tmp), name))
    if args.json:
        for name, value in figures.items():
            print(json.dumps({"metric": name, "value": round(value, 2)}))
    else:
        print(f"{'metric':<44}{'value':>12}   ({args.tasks} tasks, {args.workers} worker processes)")
        for name, value in figures.items():
            print(f"{name:<44}{value:>12,.2f}")


if __name__ == "__main__":
    main()
