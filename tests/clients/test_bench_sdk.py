"""``bench/sdk.py`` runs end to end on stock KVRocks (RESP2 only), a few hundred tasks, and prints each figure
named for its store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.clients.conftest import CLIENT_DB
from tests.engine._redis_servers import kvrocks_binary
from tests.processes import child_database_url

pytestmark = CLIENT_DB

ROOT = Path(__file__).resolve().parents[2]


def test_the_sdk_bench_runs_on_stock_kvrocks_and_names_its_figures_for_it():
    env = {**os.environ, "CODEQ_KVROCKS_BIN": kvrocks_binary(), "DATABASE_URL": child_database_url()}
    env.pop("CODEQ_KVROCKS_URL", None)
    run = subprocess.run([sys.executable, "bench/sdk.py", "--tasks", "300", "--workers", "1", "--stores", "kvrocks",
                          "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    figures = {line["metric"]: line["value"] for line in map(json.loads, run.stdout.splitlines())}
    assert set(figures) == {"sdk_enqueue_per_s_kvrocks", "sdk_drain_per_s_kvrocks", "sdk_drain_threads_per_s_kvrocks"}
    assert all(value > 0 for value in figures.values())
