"""The chaos run in small: tasks through crashing workers while the web server, the scheduler and the
store are each killed and started again lose nothing, complete nothing twice, and answer no server
error but 503 (``bench/chaos.py``; the full run is 5,000 tasks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_nothing_is_lost_or_done_twice_while_every_process_is_killed_once():
    run = subprocess.run([sys.executable, "bench/chaos.py", "--tasks", "400", "--workers", "3", "--json",
                          "--timeout", "300"], cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip

    figures = {line["metric"]: line["value"] for line in map(json.loads, run.stdout.splitlines())}
    assert run.stderr.count("kill -9") == 3, run.stderr
    assert figures["lost"] == 0, run.stderr
    assert figures["double_results"] == 0
    assert figures["http_5xx_other_than_503"] == 0
    assert figures["redelivered"] >= 1  # the crashed workers' tasks went to others
    assert run.returncode == 0
