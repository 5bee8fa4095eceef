"""Recorder benchmark: what the metrics bookkeeping adds to a claim and to a result, in process.

Usage: python bench/recorder.py [--json] [--samples 200000]
No store and no database: the recorder's flusher is not given time to run, so the figures are the
request path's own cost, the part an HTTP benchmark on a shared machine cannot tell from its noise:
  claim_us    one claimed task noted (wait time) and its worker seen, headers as codeq.Worker sends them
  result_us   one settled task noted (completed, run time) and its worker seen
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/, whose http.py would shadow the standard library's
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeq_platform.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django  # noqa: E402

django.setup()

from codeq_platform.api.auth import Principal  # noqa: E402
from codeq_platform.api.recorder import Recorder  # noqa: E402
from codeq_platform.engine import State, Task  # noqa: E402


def _task(now_ms: int) -> Task:
    history = f"enqueued\x1f{now_ms - 50}\x1f\x1eclaimed\x1f{now_ms}\x1ftoken:bench\x1e"
    return Task(id="t", tenant="bench", command="bench.resize", payload="{}", priority=0, state=State.LEASED,
                attempts=1, max_attempts=5, created_ms=now_ms - 50, updated_ms=now_ms, worker_id="token:bench",
                lease_until_ms=now_ms + 60_000, error="", idempotency_key="", dedup_key="", webhook="",
                tags=[], progress="", due_ms=0, finished_ms=now_ms + 20, history=history,
                command_key="bench.resize")  # fmt: skip


async def measure(samples: int) -> dict[str, float]:
    recorder = Recorder()
    principal = Principal(tenant_slug="bench", tenant_id=1, role="worker", token_id=1, token_name="w", jti="bench")
    headers = {"x-codeq-worker-id": "box:1:ab", "x-codeq-worker-host": "box", "x-codeq-worker-pid": "1",
               "x-codeq-worker-in-flight": "3"}  # fmt: skip
    task = _task(int(time.time() * 1000))
    start = time.perf_counter()
    for _ in range(samples):
        recorder.claimed("bench", [task])
        recorder.seen(principal, headers, claimed=1)
    middle = time.perf_counter()
    for _ in range(samples):
        recorder.finished("bench", task, ok=True)
        recorder.seen(principal, headers)
    end = time.perf_counter()
    if recorder.task is not None:
        recorder.task.cancel()
    return {"claim_us": (middle - start) / samples * 1e6, "result_us": (end - middle) / samples * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON line per figure")
    parser.add_argument("--samples", type=int, default=200_000)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.samples))
    for name, value in figures.items():
        print(json.dumps({"metric": name, "value": round(value, 2)}) if args.json else f"{name:10} {value:8.2f}")


if __name__ == "__main__":
    main()
