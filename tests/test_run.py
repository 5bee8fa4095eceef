"""``make run``'s promise to a new user: on embedded defaults (SQLite and the embedded KV under a fresh
var folder, no service URLs) the platform starts, the curl lines it prints work as printed, Ctrl-C stops
every process it started, and a task accepted before the stop is still there after a restart."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
BANNER_END = "Ctrl-C stops everything."
START_S = 120.0


class Platform:
    """``python -m codeq_platform.run`` as ``make run`` starts it, in its own process group."""

    def __init__(self, var: Path, port: int) -> None:
        kept = {k: v for k, v in os.environ.items() if not k.startswith(("CODEQ_", "DJANGO_"))}
        for name in ("DATABASE_URL", "SECRET_KEY", "DEBUG"):
            kept.pop(name, None)
        self.env = {**kept, "CODEQ_VAR_DIR": str(var), "CODEQ_PORT": str(port)}
        self.base = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codeq_platform.run"], cwd=ROOT, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._collect, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "make run exited early:\n" + "".join(self.lines)
            if any(BANNER_END in line for line in self.lines) and self._healthy():
                return "".join(self.lines)
            time.sleep(0.2)
        raise AssertionError("make run did not come up:\n" + "".join(self.lines))

    def _collect(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def descendants(self) -> set[int]:
        """Every process ``make run`` started, whatever session it runs in."""
        table = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout.split()
        children: dict[int, list[int]] = {}
        for pid, ppid in zip(table[::2], table[1::2], strict=True):
            children.setdefault(int(ppid), []).append(int(pid))
        found, todo = set(), [self.proc.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.add(child)
                todo.append(child)
        return found

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the foreground process group, as a terminal sends it; then every process
        it started must be gone."""
        started = self.descendants()
        assert len(started) >= 2, "the web server and the scheduler should be running"
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout=60)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = {pid for pid in started if _alive(pid)}
            if not alive:
                return code
            time.sleep(0.1)
        for pid in alive:
            os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"processes of make run outlived Ctrl-C: {sorted(alive)}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for pid in self.descendants():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


@pytest.fixture
def platform(tmp_path) -> Platform:
    started = Platform(tmp_path / "var", free_port())
    yield started
    started.kill()


def exports_of(banner: str) -> str:
    """The banner's ``export NAME=token`` lines, each with a token."""
    lines = [line.strip() for line in banner.splitlines() if line.strip().startswith("export ")]
    assert all(re.fullmatch(r"export [A-Z]+=\S+", line) for line in lines), lines
    return "\n".join(lines)


def bash(exports: str, command: str) -> str:
    done = subprocess.run(["bash", "-c", f"{exports}\n{command}"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_run_serves_the_printed_tour_and_keeps_tasks_across_a_restart(platform):
    banner = platform.start()
    assert re.search(r"login: admin / \S+", banner)
    exports = exports_of(banner)
    assert len(exports.splitlines()) == 3
    create, claim, report, fetch = [
        line.strip() for line in banner.replace("\\\n", " ").splitlines() if line.strip().startswith("curl ")
    ]

    created = json.loads(bash(exports, create))
    assert (created["command"], created["priority"], created["status"]) == ("media.resize", 5, "PENDING")
    claimed = json.loads(bash(exports, claim))
    assert claimed["id"] == created["id"]
    reported = json.loads(bash(exports, report.replace("<id>", created["id"])))
    assert reported["status"] == "COMPLETED"
    fetched = json.loads(bash(exports, fetch.replace("<id>", created["id"])))
    assert fetched["task"]["status"] == "COMPLETED"
    assert fetched["result"]["result"] == {"url": "s3://bucket/cat-640.jpg"}

    waiting = json.loads(bash(exports, create))
    assert platform.interrupt() == 0

    exports = exports_of(platform.start())
    again = json.loads(bash(exports, f'curl -s {platform.base}/v1/codeq/tasks/{waiting["id"]} '
                                     '-H "Authorization: Bearer $PRODUCER"'))  # fmt: skip
    assert (again["id"], again["status"]) == (waiting["id"], "PENDING")
    assert platform.interrupt() == 0
