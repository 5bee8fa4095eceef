"""Engine benchmark: throughput, claim latency at depth and after churn, memory per queued task, and the
console's search page (20 bounded scan steps of 250 records) over the deep queue's records.

Usage: python bench/engine.py [--json] [--stores redis,kvrocks] [--churn N]
Environment: CODEQ_KV_URL (default redis://127.0.0.1:6379/0), BENCH_N (default 20000) tasks per
throughput run, BENCH_DEPTH (default 1000000) tasks queued for the deep claim-latency run (sampled in
turn with a queue of ~1,000 tasks and one of ~1,000 under a cap on tasks in flight, so every latency figure
sees the same store at the same moments; the capped one shows what the pause/cap checks cost a claim).
``--stores`` runs every figure on each store named (see bench/_stores.py: ``kvrocks`` starts a stock
KVRocks from CODEQ_KVROCKS_BIN) and names each figure for its store. ``--churn N`` (default 1,000,000)
sends N tasks through one command (enqueue, claim, complete) and samples claim latency before and after;
0 skips it. Memory per task is reported where the store keeps data in memory (not KVRocks).
Everything runs under a fresh key prefix that is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stores import stores, suffixed

from codeq_platform.engine import AsyncEngine, Engine, EngineConfig, NewTask, connect, connect_async
from codeq_platform.engine.store import connect as connect_store

TENANT = "acme"
COMMAND = "media.resize"
CONCURRENCY = 50


def payload(i: int) -> dict:
    return {"tenant": "acme", "user_id": 1234567, "action": "resize",
            "src": "s3://media/u/1234567/img1.jpg", "w": 640, "seq": i}  # fmt: skip


def bench_enqueue(engine: Engine, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        engine.enqueue(TENANT, NewTask(COMMAND, payload(i)))
    return n / (time.perf_counter() - start)


def fill(engine: Engine, n: int, command: str = COMMAND) -> float:
    start = time.perf_counter()
    for base in range(0, n, 1000):
        engine.enqueue_batch(TENANT, [NewTask(command, payload(base + i)) for i in range(min(1000, n - base))])
    return n / (time.perf_counter() - start)


async def drain(url: str, config: EngineConfig, n: int, command: str = COMMAND) -> float:
    client = connect_async(url)
    engine = AsyncEngine(client, config)
    done = 0

    async def worker(w: int) -> None:
        nonlocal done
        name = f"bench-worker-{w}"
        tasks = await engine.claim(TENANT, name, [command])
        while tasks:
            settled = await engine.complete(TENANT, tasks[0].id, name, {"ok": True}, next_commands=[command])
            done += 1
            tasks = settled.claimed

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    await engine.aclose()
    await client.aclose()
    if done != n:
        raise SystemExit(f"drain finished {done} tasks of {n}")
    return n / elapsed


def claim_latencies(engine: Engine, commands: list[str], samples: int) -> list[tuple[float, float]]:
    """Claim latency (µs, p50 and p99) per command, one call at a time, the commands taken in turn
    so every figure sees the same store at the same moments (this VM's timing drifts by tens of
    percent from one minute to the next). Each claimed task is completed outside the timing."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(samples):
        for bucket, command in zip(times, commands, strict=True):
            start = time.perf_counter()
            got = engine.claim(TENANT, "latency-probe", [command])
            bucket.append((time.perf_counter() - start) * 1e6)
            engine.complete(TENANT, got[0].id, "latency-probe", {"ok": True})
    out = []
    for bucket in times:
        bucket.sort()
        out.append((statistics.median(bucket), bucket[int(len(bucket) * 0.99) - 1]))
    return out


def churn_latencies(url: str, engine: Engine, config: EngineConfig, n: int, samples: int) -> dict[str, float]:
    """Claim latency on a queue of ~1,000 before and after ``n`` tasks went through one command of the same
    shard (its leases, finished tasks and ready lists churned: deleted entries a store may keep stepping over)."""
    fill(engine, 1000 + samples, "churn.probe")
    ((before_p50, before_p99),) = claim_latencies(engine, ["churn.probe"], samples)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        fill(engine, size, "churn")
        asyncio.run(drain(url, config, size, "churn"))
    fill(engine, samples, "churn.probe")
    ((after_p50, after_p99),) = claim_latencies(engine, ["churn.probe"], samples)
    return {"claim_p50_us_before_churn": before_p50, "claim_p99_us_before_churn": before_p99,
            "claim_p50_us_after_churn": after_p50, "claim_p99_us_after_churn": after_p99}  # fmt: skip


def search_page_ms(engine: Engine, runs: int = 5) -> float:
    """Median time of one console search page at the tenant's first records: 20 ``scan_tasks`` steps of 250
    (dashboard/search.py reads at most that much per page, however many tasks the tenant holds)."""
    times = []
    for _ in range(runs):
        start, cursor = time.perf_counter(), None
        for _ in range(20):
            cursor = engine.scan_tasks(TENANT, cursor=cursor, count=250).next_cursor
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(url: str, n: int, depth: int, churn: int) -> dict[str, float]:
    prefix = f"cqbench{uuid.uuid4().hex[:8]}"
    config = EngineConfig(prefix=prefix)
    client = connect(url)
    engine = Engine(client, config)
    raw = connect_store(url)
    figures: dict[str, float] = {}
    try:
        figures["enqueue_per_s"] = bench_enqueue(engine, n)
        figures["drain_per_s"] = asyncio.run(drain(url, config, n))
        figures["batch_enqueue_per_s"] = fill(engine, n)
        figures["drain_per_s"] = max(figures["drain_per_s"], asyncio.run(drain(url, config, n)))

        # Claim latency from a queue of ~1,000 and one of 1,000,000, sampled in turn once the store has
        # settled (Redis grows its hash tables incrementally after a large fill).
        samples = 2000
        fill(engine, 1000 + samples, "probe.small")
        before = raw.info("memory").get("used_memory")
        fill(engine, depth, "probe.deep")
        after = raw.info("memory").get("used_memory")
        if before is not None and after is not None:
            figures["bytes_per_task"] = (int(after) - int(before)) / depth
        # The same small queue with a cap on tasks in flight (never reached): what the pause/cap checks cost a claim.
        fill(engine, 1000 + samples, "probe.capped")
        engine.limit_queue(TENANT, "probe.capped", 1_000_000)
        time.sleep(3)
        figures["search_page_ms_at_depth"] = search_page_ms(engine)
        (p50_1k, p99_1k), (p50_1m, p99_1m), (p50_cap, p99_cap) = claim_latencies(
            engine, ["probe.small", "probe.deep", "probe.capped"], samples
        )
        figures.update(claim_p50_us_1k=p50_1k, claim_p99_us_1k=p99_1k, claim_p50_us_1m=p50_1m, claim_p99_us_1m=p99_1m,
                       claim_p50_us_1k_capped=p50_cap, claim_p99_us_1k_capped=p99_cap)  # fmt: skip
        if churn:
            figures.update(churn_latencies(url, engine, config, churn, samples))
    finally:
        for key in raw.scan_iter(match=f"{prefix}:*", count=1000):
            raw.unlink(key)
        raw.close()
        engine.close()
        client.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON line per figure")
    parser.add_argument("--stores", default="", help="comma-separated: redis, kvrocks (default: CODEQ_KV_URL)")
    parser.add_argument("--churn", type=int, default=1_000_000, help="tasks sent through one command (0: skip)")
    args = parser.parse_args()
    n = int(os.environ.get("BENCH_N", "20000"))
    depth = int(os.environ.get("BENCH_DEPTH", "1000000"))
    figures: dict[str, float] = {}
    with stores(args.stores) as urls:
        for name, url in urls.items():
            figures.update(suffixed(run(url, n, depth, args.churn), name))
        if {"redis", "kvrocks"} <= urls.keys():
            figures["drain_kvrocks_to_redis"] = figures["drain_per_s_kvrocks"] / figures["drain_per_s_redis"]
    if args.json:
        for name, value in figures.items():
            print(json.dumps({"metric": name, "value": round(value, 2)}))
    else:
        print(f"{'metric':<34}{'value':>14}   (N={n}, depth={depth}, churn={args.churn}, stores={urls})")
        for name, value in figures.items():
            print(f"{name:<34}{value:>14,.2f}")


if __name__ == "__main__":
    main()
