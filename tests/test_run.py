"""``make run``'s promise to a new user: on embedded defaults (SQLite and the embedded KV under a fresh
var folder, no service URLs) the platform starts, the curl lines it prints work as printed, Ctrl-C stops
every process it started, and a task accepted before the stop is still there after a restart. The
README's first steps work as printed, its management commands in a second, plain shell; and nothing
but ``make run`` starts a server."""

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

import pytest

from tests.processes import answers, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BANNER_END = "Ctrl-C stops everything."


def plain_shell(var: Path) -> dict[str, str]:
    """A new terminal's environment: none of the platform's variables. ``CODEQ_VAR_DIR`` stands for the
    checkout's ./var, which the test may not touch."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("CODEQ_", "DJANGO_"))}
    for name in ("DATABASE_URL", "SECRET_KEY", "DEBUG"):
        kept.pop(name, None)
    return {**kept, "CODEQ_VAR_DIR": str(var)}


def processes_naming(path: Path) -> list[str]:
    """Command lines of the running processes that mention ``path`` (a server left behind)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(path) in line:
                found.append(line)
    return found


class Platform:
    """``python -m codeq_platform.run`` as ``make run`` starts it, in its own process group."""

    def __init__(self, var: Path, port: int) -> None:
        self.var = var
        self.port = port
        self.env = {**plain_shell(var), "CODEQ_PORT": str(port)}
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
        wait_until(lambda: any(BANNER_END in line for line in self.lines) and answers(f"{self.base}/readyz"),
                   "make run did not come up", alive=lambda: self.proc.poll() is None)  # fmt: skip
        return "".join(self.lines)

    def _collect(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line)

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


def bash(exports: str, command: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["bash", "-c", f"{exports}\n{command}"], capture_output=True, text=True, timeout=180,
                          cwd=ROOT, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def readme_commands(containing: str) -> list[str]:
    """The commands of the README's ``sh`` block that contains ``containing``, continuation lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    [block] = [b for b in blocks if containing in b]
    lines = [line.strip() for line in block.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


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


def test_the_readmes_first_steps_work_as_printed_with_commands_in_a_second_plain_shell(platform):
    exports = exports_of(platform.start())
    where, *tour = readme_commands("B=http://127.0.0.1:8000/v1/codeq")
    where = where.replace(":8000/", f":{platform.port}/")  # the only change: the test's own port
    create, claim, report, fetch, queues, dlq = (f"{where}\n{line}" for line in tour)

    created = json.loads(bash(exports, create))
    assert json.loads(bash(exports, claim))["id"] == created["id"]
    assert json.loads(bash(exports, report.replace("<id>", created["id"])))["status"] == "COMPLETED"
    assert json.loads(bash(exports, fetch.replace("<id>", created["id"])))["result"]["result"] == {
        "url": "s3://bucket/cat-640.jpg"
    }
    assert json.loads(bash(exports, queues))["completed"] == 1
    assert json.loads(bash(exports, dlq)) is not None

    second_shell = plain_shell(platform.var)
    tenant, issue, listing, revoke, member = readme_commands(".venv/bin/python manage.py codeq_tenant create")
    bash("", tenant, second_shell)
    token = bash("", issue, second_shell).strip()
    debug_token = bash("", issue, {**second_shell, "DEBUG": "1"}).strip()
    claim_as = f'curl -s -o /dev/null -w "%{{http_code}}" -X POST {platform.base}/v1/codeq/tasks/claim -d {{}} '
    assert bash("", f'{claim_as} -H "Authorization: Bearer {token}"') == "204"
    assert bash("", f'{claim_as} -H "Authorization: Bearer {debug_token}"') == "204"
    ids = [line.split()[0] for line in bash("", listing, second_shell).splitlines() if "resize-pool" in line]
    assert len(ids) == 2
    for token_id in ids:
        bash("", revoke.replace("<id>", token_id), second_shell)
    revoked = time.monotonic()
    while bash("", f'{claim_as} -H "Authorization: Bearer {token}"') != "401":  # within the token cache's 5 s
        assert time.monotonic() - revoked < 60, "the revoked token is still accepted"
        time.sleep(0.2)
    bash("", member, second_shell)

    assert platform.interrupt() == 0
    assert processes_naming(platform.var) == []


def test_management_commands_start_no_server(tmp_path):
    var = tmp_path / "var"

    bash("", ".venv/bin/python manage.py check", plain_shell(var))

    assert processes_naming(var) == []
    assert not (var / "kv" / "kv.sock").exists()
