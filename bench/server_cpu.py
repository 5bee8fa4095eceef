"""Server CPU per task: what one web process spends, whatever else the machine runs.

Usage: python bench/server_cpu.py [--json] [--root PATH] [--cycles 1500] [--batches 30]
Starts granian with one worker process from the source tree ``--root`` (default: this checkout; give
another checkout to compare two versions on a shared machine, where throughput figures swing with the
neighbours' load but CPU seconds per request move much less), creates a bench tenant, warms up, then
sends requests one at a time and reads the server's CPU time (user + system, its whole process tree):
  cpu_ms_per_cycle        one create + claim + result, each its own request
  cpu_ms_per_batch_task   one task through a 100-task create batch, claims of 10 and a 100-result batch
Environment: DATABASE_URL and CODEQ_KV_URL (required: PostgreSQL or SQLite, and a store to write to).
Keys are written under the prefix ``cqcpu`` and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/, whose http.py would shadow the standard library's

import httpx  # noqa: E402
import psutil  # noqa: E402
import redis  # noqa: E402

PREFIX = "cqcpu"
SETUP = """import django, json; django.setup()
from tenants import services; from tenants.models import Tenant
t = Tenant.objects.filter(slug='bench').first() or services.create_tenant(slug='bench', name='Bench')
t.requests_per_second = 0; t.max_queued_tasks = 0; t.save()
roles = ('producer', 'worker')
print(json.dumps([services.issue_token(tenant=t, name='cpu-' + role, role=role).bearer for role in roles]))
"""


def cpu_seconds(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.cpu_times().user + p.cpu_times().system for p in [process, *process.children(recursive=True)])


def measure(root: Path, cycles: int, batches: int) -> dict[str, float]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "codeq_platform.settings", "CODEQ_KV_PREFIX": PREFIX,
           "SECRET_KEY": os.environ.get("SECRET_KEY", "server-cpu-bench-secret-key-0123456789"),
           "PYTHONPATH": str(root)}  # fmt: skip
    setup = subprocess.run([sys.executable, "-c", SETUP], cwd=root, env=env, capture_output=True, text=True, check=True)
    producer, worker = json.loads(setup.stdout.splitlines()[-1])
    server = subprocess.Popen([sys.executable, "-m", "granian", "--interface", "asginl",
                               "codeq_platform.asgi:application", "--host", "127.0.0.1", "--port", "18778",
                               "--workers", "1", "--loop", "uvloop", "--http", "1", "--no-ws",
                               "--log-level", "warning"],
                              cwd=root, env=env)  # fmt: skip
    base = "http://127.0.0.1:18778/v1/codeq"
    as_producer, as_worker = {"Authorization": f"Bearer {producer}"}, {"Authorization": f"Bearer {worker}"}
    try:
        with httpx.Client(timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    http.get("http://127.0.0.1:18778/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.2)

            def one_by_one(n: int) -> None:
                for i in range(n):
                    http.post(f"{base}/tasks", json={"command": "cpu.one", "payload": {"i": i}}, headers=as_producer)
                    task = http.post(f"{base}/tasks/claim", json={"commands": ["cpu.one"]}, headers=as_worker).json()
                    http.post(f"{base}/tasks/{task['id']}/result", json={"status": "COMPLETED", "result": {}},
                              headers=as_worker)  # fmt: skip

            def in_batches(n: int) -> None:
                for _ in range(n):
                    tasks = [{"command": "cpu.batch", "payload": {"i": i}} for i in range(100)]
                    http.post(f"{base}/tasks/batch", json={"tasks": tasks}, headers=as_producer)
                    ids = []
                    for _ in range(10):
                        answer = http.post(f"{base}/tasks/claim/batch", json={"count": 10, "commands": ["cpu.batch"]},
                                           headers=as_worker)  # fmt: skip
                        ids += [t["id"] for t in answer.json()["tasks"]]
                    results = [{"taskId": i, "status": "COMPLETED", "result": {}} for i in ids]
                    http.post(f"{base}/tasks/batch/results", json={"results": results}, headers=as_worker)

            one_by_one(200)
            in_batches(3)
            start = cpu_seconds(server.pid)
            one_by_one(cycles)
            middle = cpu_seconds(server.pid)
            in_batches(batches)
            end = cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait()
        store = redis.Redis.from_url(os.environ["CODEQ_KV_URL"])
        for key in store.scan_iter(match=f"{PREFIX}:*", count=1000):
            store.delete(key)
    return {"cpu_ms_per_cycle": (middle - start) / cycles * 1000,
            "cpu_ms_per_batch_task": (end - middle) / (batches * 100) * 1000}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON line per figure")
    parser.add_argument("--root", type=Path, default=ROOT, help="the source tree to serve")
    parser.add_argument("--cycles", type=int, default=1500)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    for name, value in measure(args.root.resolve(), args.cycles, args.batches).items():
        print(json.dumps({"metric": name, "value": round(value, 4)}) if args.json else f"{name:22} {value:8.4f}")


if __name__ == "__main__":
    main()
