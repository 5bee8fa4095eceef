"""HTTP benchmark: the platform as it runs in production, driven by 50 concurrent clients.

Usage: python bench/http.py [--json]
Starts granian (or uvicorn) with 2 worker processes on a free port (PostgreSQL and the KV store named by
DATABASE_URL / CODEQ_KV_URL; otherwise SQLite and the embedded KV under a temporary folder), creates
a bench tenant without rate or size limits, then runs the load from a separate process: keep-alive
HTTP/1.1 connections speaking raw asyncio streams, so the client spends as little of the machine as
possible. Figures:
  cycle_per_s         create + claim + result, each task its own three calls
  batch_cycle_per_s   the same through the batch endpoints (100-task create and result batches,
                      claims of 10, the contract's largest)
  p50_ms_<endpoint>, p99_ms_<endpoint> for create, claim, heartbeat, result
Environment: BENCH_SECONDS (default 10) per phase, BENCH_CLIENTS (default 50), BENCH_SERVER (uvicorn or
granian; default granian). ``--stores redis,kvrocks`` runs the whole benchmark on each store named (see
bench/_stores.py: ``kvrocks`` starts a stock KVRocks from CODEQ_KVROCKS_BIN) and names each figure for
its store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from _stores import stores, suffixed  # noqa: E402

COMMAND = "bench.resize"
PAYLOAD = {"tenant": "acme", "user_id": 1234567, "action": "resize", "src": "s3://media/u/1234567/img1.jpg", "w": 640}


class Client:
    """One keep-alive HTTP/1.1 connection; each call says which of the two tokens it uses."""

    def __init__(self, host: str, port: int, producer_token: str, worker_token: str) -> None:
        self.host, self.port = host, port
        self.auth = {
            "producer": f"Authorization: Bearer {producer_token}\r\n".encode(),
            "worker": f"Authorization: Bearer {worker_token}\r\n".encode(),
        }
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def call(self, method: str, path: str, body: object = None, as_: str = "worker") -> tuple[int, object]:
        data = orjson.dumps(body) if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n").encode() + self.auth[as_] + b"\r\n"  # fmt: skip
        self.writer.write(head + data)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        raw = await self.reader.readexactly(length) if length else b""
        return status, (orjson.loads(raw) if raw else None)


def _record(latencies: dict[str, list[float]], name: str, start: float) -> None:
    latencies[name].append((time.perf_counter() - start) * 1000)


async def cycles(clients: list[Client], seconds: float, latencies) -> int:
    done = 0
    stop = time.perf_counter() + seconds

    async def loop(client: Client) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            t = time.perf_counter()
            body = {"command": COMMAND, "payload": PAYLOAD}
            status, task = await client.call("POST", "/v1/codeq/tasks", body, as_="producer")
            _record(latencies, "create", t)
            assert status == 202, (status, task)
            t = time.perf_counter()
            status, claimed = await client.call("POST", "/v1/codeq/tasks/claim", {"commands": [COMMAND]})
            _record(latencies, "claim", t)
            if status != 200:
                continue
            t = time.perf_counter()
            status, _ = await client.call("POST", f"/v1/codeq/tasks/{claimed['id']}/result",
                                          {"status": "COMPLETED", "result": {"ok": True}})  # fmt: skip
            _record(latencies, "result", t)
            assert status == 200
            done += 1

    await asyncio.gather(*(loop(c) for c in clients))
    return done


async def heartbeats(workers: list[Client], seconds: float, latencies) -> None:
    await workers[0].call("POST", "/v1/codeq/tasks/batch",
                          {"tasks": [{"command": COMMAND + ".hb", "payload": PAYLOAD} for _ in workers]},
                          as_="producer")  # fmt: skip
    stop = time.perf_counter() + seconds

    async def loop(worker: Client) -> None:
        status, task = await worker.call("POST", "/v1/codeq/tasks/claim", {"commands": [COMMAND + ".hb"]})
        assert status == 200, status
        while time.perf_counter() < stop:
            t = time.perf_counter()
            status, _ = await worker.call("POST", f"/v1/codeq/tasks/{task['id']}/heartbeat", {"extendSeconds": 60})
            _record(latencies, "heartbeat", t)
            assert status == 200
        await worker.call("POST", f"/v1/codeq/tasks/{task['id']}/result", {"status": "COMPLETED", "result": {}})

    await asyncio.gather(*(loop(w) for w in workers))


async def batch_cycles(clients: list[Client], seconds: float) -> int:
    done = 0
    stop = time.perf_counter() + seconds
    batch = {"tasks": [{"command": COMMAND + ".batch", "payload": PAYLOAD} for _ in range(100)]}

    async def loop(worker: Client) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            status, _ = await worker.call("POST", "/v1/codeq/tasks/batch", batch, as_="producer")
            assert status == 200
            claimed: list[str] = []
            while len(claimed) < 100:
                status, body = await worker.call("POST", "/v1/codeq/tasks/claim/batch",
                                                 {"commands": [COMMAND + ".batch"], "count": 10})  # fmt: skip
                if status != 200:
                    break
                claimed += [t["id"] for t in body["tasks"]]
            if claimed:
                status, _ = await worker.call("POST", "/v1/codeq/tasks/batch/results", {"results": [
                    {"taskId": i, "status": "COMPLETED", "result": {"ok": True}} for i in claimed]})  # fmt: skip
                assert status == 200
                done += len(claimed)

    await asyncio.gather(*(loop(c) for c in clients))
    return done


async def drive(port: int, producer_token: str, worker_token: str, n: int, seconds: float) -> dict[str, float]:
    # Each client runs whole cycles (create with the producer token, claim and result with the worker's).
    clients = [Client("127.0.0.1", port, producer_token, worker_token) for _ in range(n)]
    await asyncio.gather(*(c.connect() for c in clients))
    latencies: dict[str, list[float]] = {k: [] for k in ("create", "claim", "heartbeat", "result")}
    await cycles(clients, 2, {k: [] for k in latencies})  # warm-up: connections, caches
    start = time.perf_counter()
    done = await cycles(clients, seconds, latencies)
    figures = {"cycle_per_s": done / (time.perf_counter() - start)}
    start = time.perf_counter()
    done = await batch_cycles(clients, seconds)
    figures["batch_cycle_per_s"] = done / (time.perf_counter() - start)
    await heartbeats(clients, min(seconds, 5), latencies)
    for name, values in latencies.items():
        values.sort()
        figures[f"p50_ms_{name}"] = statistics.median(values)
        figures[f"p99_ms_{name}"] = values[max(0, int(len(values) * 0.99) - 1)]
    return figures


SERVERS = {
    "uvicorn": lambda port: [sys.executable, "-m", "uvicorn", "codeq_platform.asgi:application", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "2", "--no-access-log", "--log-level", "warning",
                             "--lifespan", "off", "--loop", "uvloop", "--http", "httptools"],
    "granian": lambda port: [sys.executable, "-m", "granian", "--interface", "asginl",
                             "codeq_platform.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "2", "--loop", "uvloop", "--http", "1", "--no-ws", "--log-level", "warning"],
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(env: dict[str, str]) -> tuple[str, str]:
    """Migrate and create the bench tenant and tokens (in a child, so this process stays lean)."""
    code = (
        "import django,json; django.setup()\n"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
        "from tenants import services, bearer; from tenants.models import Tenant\n"
        "t = Tenant.objects.filter(slug='bench').first() or services.create_tenant(slug='bench', name='Bench')\n"
        "t.requests_per_second = 0; t.max_queued_tasks = 0; t.save()\n"
        "p = services.issue_token(tenant=t, name='bench-producer', role='producer').bearer\n"
        "w = services.issue_token(tenant=t, name='bench-worker', role='worker').bearer\n"
        "print(json.dumps([p, w]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    producer, worker = json.loads(out.stdout.strip().splitlines()[-1])
    return producer, worker


def measure(env: dict[str, str], server_name: str) -> dict[str, float]:
    """Serve the platform on the store ``env`` names and drive it from a separate process."""
    producer, worker = prepare(env)
    port = free_port()
    server = subprocess.Popen(SERVERS[server_name](port), env=env, cwd=ROOT)
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
        out = subprocess.run([sys.executable, __file__, "--drive", str(port), producer, worker], env=env,
                             check=True, capture_output=True, text=True)  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=20)
        from codeq_platform.engine.store import connect

        store = connect(env["CODEQ_KV_URL"])
        for key in store.scan_iter(match="cqbenchhttp:*", count=1000):
            store.unlink(key)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON line per figure")
    parser.add_argument("--stores", default="", help="comma-separated: redis, kvrocks (default: CODEQ_KV_URL)")
    parser.add_argument("--drive", nargs=3, metavar=("PORT", "PRODUCER", "WORKER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    server_name = os.environ.get("BENCH_SERVER", "granian")
    clients = int(os.environ.get("BENCH_CLIENTS", "50"))
    if args.drive:
        port, producer, worker = args.drive
        print(json.dumps(asyncio.run(drive(int(port), producer, worker, clients, seconds))))
        return

    tmp = Path(tempfile.mkdtemp(prefix="codeq-bench-"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "codeq_platform.settings", "CODEQ_VAR_DIR": str(tmp),
           "SECRET_KEY": os.environ.get("SECRET_KEY", secrets.token_urlsafe(48)),
           "CODEQ_KV_PREFIX": "cqbenchhttp", "PYTHONPATH": str(ROOT)}  # fmt: skip
    figures: dict[str, float] = {}
    if not args.stores and not env.get("CODEQ_KV_URL"):
        from codeq_platform.base.embedded_kv import EmbeddedKV

        kv_server = EmbeddedKV(tmp / "kv")
        try:
            figures = measure({**env, "CODEQ_KV_URL": kv_server.start()}, server_name)
        finally:
            kv_server.stop()
    else:
        with stores(args.stores) as urls:
            for name, url in urls.items():
                figures.update(suffixed(measure({**env, "CODEQ_KV_URL": url}, server_name), name))
    if args.json:
        for name, value in figures.items():
            print(json.dumps({"metric": name, "value": round(value, 2)}))
    else:
        print(f"{'metric':<30}{'value':>12}   ({clients} clients, {seconds:g}s per phase, 2 {server_name} workers)")
        for name, value in figures.items():
            print(f"{name:<30}{value:>12,.2f}")


if __name__ == "__main__":
    main()
