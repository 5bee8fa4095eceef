"""The ``codeq`` command as a user runs it (the installed entry point, a subprocess) against the platform's
real processes: what each command prints, its ``--json`` output, and the exit codes scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import codeq
import pytest

from tests.api.calls import mint
from tests.clients.conftest import CLIENT_DB
from tests.factories import TenantFactory
from tests.processes import free_port

pytestmark = CLIENT_DB

CODEQ = str(Path(sys.executable).parent / "codeq")


def codeq_cli(token: str | None, *args: str, url: str | None = None, stdin: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CODEQ_")}
    environment.update({"CODEQ_CONFIG": "/nonexistent/codeq.toml", "COLUMNS": "200", **(env or {})})
    if url:
        environment["CODEQ_URL"] = url
    if token:
        environment["CODEQ_TOKEN"] = token
    return subprocess.run([CODEQ, *args], env=environment, input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def run(url):
    def run(token: str | None, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return codeq_cli(token, *args, url=url, **kwargs)

    return run


def test_enqueue_get_result_and_cancel(run, producer_bearer, worker, command):
    enqueued = run(producer_bearer, "enqueue", command, '{"src": "cat.jpg"}', "--priority", "5")
    assert enqueued.returncode == 0, enqueued.stderr
    task_id = enqueued.stdout.strip()

    shown = run(producer_bearer, "get", task_id)
    assert shown.returncode == 0 and "PENDING" in shown.stdout and '{"src": "cat.jpg"}' in shown.stdout
    as_json = json.loads(run(producer_bearer, "get", task_id, "--json").stdout)
    assert (as_json["id"], as_json["priority"]) == (task_id, 5)

    assert run(producer_bearer, "result", task_id).returncode == 8
    worker.claim([command])
    worker.complete(task_id, {"url": "s3://cat-640.jpg"})
    done = run(producer_bearer, "--json", "result", task_id, "--wait", "10")
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == {"url": "s3://cat-640.jpg"}

    failing = json.loads(run(producer_bearer, "enqueue", command, "1", "--json").stdout)["id"]
    worker.claim([command])
    worker.fail(failing, "corrupt")
    failed = run(producer_bearer, "result", failing)
    assert failed.returncode == 9 and "FAILED" in failed.stdout and "corrupt" in failed.stdout

    later = run(producer_bearer, "enqueue", command, "--delay", "600").stdout.strip()
    cancelled = run(producer_bearer, "cancel", later)
    assert cancelled.returncode == 0 and f"cancelled {later}" in cancelled.stdout
    assert run(producer_bearer, "cancel", later).returncode == 6


def test_enqueue_a_jsonl_file_reports_refused_lines(run, producer_bearer, admin, command, tmp_path):
    lines = [json.dumps({"command": command, "payload": {"n": n}}) for n in range(250)]
    lines.insert(10, json.dumps({"command": "no spaces", "payload": 1}))
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")

    done = run(producer_bearer, "enqueue", "--file", str(path))
    assert done.returncode == 9
    assert "enqueued 250 task(s), refused 1" in done.stdout and "line 11: invalid command" in done.stdout
    assert admin.queue(command).ready == 250

    piped = run(producer_bearer, "--json", "enqueue", "-f", "-", stdin=lines[0] + "\n")
    assert piped.returncode == 0 and json.loads(piped.stdout) == {"enqueued": 1, "refused": []}


def test_queues_and_the_dlq(run, admin_bearer, producer, worker, command):
    for n in range(3):
        task = producer.create(command, n, max_attempts=1)
        worker.claim([command])
        worker.nack(task.id, reason=f"boom {n}")

    table = run(admin_bearer, "queues")
    assert table.returncode == 0
    row = next(line for line in table.stdout.splitlines() if line.startswith(command))
    assert row.split()[1:] == ["0", "0", "0", "3", "running", "-"]
    assert json.loads(run(admin_bearer, "queues", "--json").stdout)[command]["dlq"] == 3

    listed = run(admin_bearer, "dlq", "list", command)
    assert listed.returncode == 0 and "boom 2" in listed.stdout
    dead = json.loads(run(admin_bearer, "--json", "dlq", "list", command).stdout)["tasks"]
    replayed = run(admin_bearer, "dlq", "replay", command, dead[0]["id"])
    assert replayed.returncode == 0 and "requeued 1" in replayed.stdout
    assert run(admin_bearer, "dlq", "replay", command).stdout.strip() == "requeued 2 task(s)"
    for _ in range(3):
        held = worker.claim([command])
        worker.nack(held.id, reason="again")
    assert run(admin_bearer, "dlq", "purge", command, stdin="n\n").returncode == 1
    assert run(admin_bearer, "dlq", "purge", command, "--yes").stdout.strip() == "deleted 3 task(s)"
    assert run(admin_bearer, "--json", "queues").returncode == 0


def test_queues_pause_resume_and_limit(run, admin_bearer, producer, worker, command):
    producer.create(command, 1)

    paused = run(admin_bearer, "queues", "pause", command)
    assert paused.returncode == 0 and paused.stdout.strip() == f"{command}: paused, max in flight no cap"
    assert worker.claim([command]) is None
    row = next(line for line in run(admin_bearer, "queues").stdout.splitlines() if line.startswith(command))
    assert row.split()[5:] == ["paused", "-"]
    limited = json.loads(run(admin_bearer, "--json", "queues", "limit", command, "--max-in-flight", "2").stdout)
    assert limited == {"command": command, "paused": True, "maxInFlight": 2}
    assert json.loads(run(admin_bearer, "queues", "--json").stdout)[command]["maxInFlight"] == 2
    assert run(admin_bearer, "queues", "resume", command).stdout.strip() == f"{command}: running, max in flight 2"
    assert worker.claim([command]) is not None
    assert run(admin_bearer, "queues", "limit", command, "--none").stdout.strip().endswith("no cap")
    assert run(admin_bearer, "queues", "limit", command).returncode == 2  # neither option: a usage error


def test_usage_per_day_and_the_quota(run, url, db, command):
    metered = TenantFactory(slug="meteredco", monthly_task_quota=100)  # its own: usage counts by tenant
    admin_bearer = mint(metered, "admin")
    with codeq.Client(url, mint(metered, "producer")) as producer:
        producer.create(command, 1)
        producer.create(command, 2)

    shown = run(admin_bearer, "usage", "--from", "2026-01-01", "--to", "2026-01-03")
    assert shown.returncode == 0, shown.stderr
    assert "2 of 100 used, 98 left" in shown.stdout
    assert [line.split()[0] for line in shown.stdout.splitlines()[2:]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    report = json.loads(run(admin_bearer, "usage", "--json").stdout)
    assert report["quota"]["used"] == 2 and report["days"][-1]["tasksCreated"] == 2
    assert run(admin_bearer, "usage", "--from", "yesterday").returncode == 2


def test_schedules_tokens_and_webhooks(run, admin_bearer, command):
    put = run(admin_bearer, "schedules", "put", "hourly-report", "--cron", "@hourly", "--command", command,
              "--payload", '{"kind": "report"}')  # fmt: skip
    assert put.returncode == 0 and "hourly-report" in put.stdout
    assert "@hourly" in run(admin_bearer, "schedules", "list").stdout
    refused = run(admin_bearer, "schedules", "put", "bad", "--cron", "every tuesday", "--command", command)
    assert refused.returncode == 5 and "cron" in refused.stderr
    assert run(admin_bearer, "schedules", "delete", "hourly-report").returncode == 0
    assert run(admin_bearer, "schedules", "get", "hourly-report").returncode == 3

    issued = json.loads(run(admin_bearer, "tokens", "issue", "ci", "--role", "producer", "--json").stdout)
    assert issued["token"] and "ci" in run(admin_bearer, "tokens", "list").stdout
    assert run(issued["token"], "enqueue", command).returncode == 0
    assert run(admin_bearer, "tokens", "revoke", str(issued["id"])).returncode == 0

    created = run(admin_bearer, "webhooks", "create", "http://127.0.0.1:9/hook", "--event", "task.failed")
    assert created.returncode == 0 and "whsec_" in created.stdout
    hooks = json.loads(run(admin_bearer, "webhooks", "list", "--json").stdout)
    assert [h["url"] for h in hooks] == ["http://127.0.0.1:9/hook"]
    assert run(admin_bearer, "webhooks", "test", str(hooks[0]["id"])).returncode == 0
    assert run(admin_bearer, "webhooks", "deliveries", str(hooks[0]["id"])).returncode == 0
    assert run(admin_bearer, "webhooks", "rotate", str(hooks[0]["id"])).stdout.startswith("whsec_")
    assert run(admin_bearer, "webhooks", "delete", str(hooks[0]["id"])).returncode == 0
    assert run(admin_bearer, "webhooks", "signing-secret").stdout.startswith("whsec_")


def test_exit_codes_of_failures(run, producer_bearer, command):
    assert run(producer_bearer, "get", "no-such-task").returncode == 3
    denied = run(producer_bearer, "queues")
    assert denied.returncode == 4 and "403" in denied.stderr
    assert run("not-a-token", "get", "x").returncode == 4
    assert run(producer_bearer, "enqueue", command, "{not json").returncode == 2
    assert run(producer_bearer, "enqueue", command, "1", "--priority", "12").returncode == 2
    assert run(producer_bearer, "enqueue", "no spaces", "1").returncode == 5
    unreachable = codeq_cli(producer_bearer, "get", "x", url=f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 7
    assert codeq_cli(producer_bearer, "get", "x").returncode == 2
    as_json = run(producer_bearer, "--json", "get", "no-such-task")
    assert json.loads(as_json.stderr) == {"error": "not found", "code": "not-found", "status": 404}


def test_a_profile_file_names_the_platform_and_token(url, producer_bearer, command, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[default]\nurl = "http://127.0.0.1:9"\n\n[ci]\nurl = "{url}"\ntoken = "{producer_bearer}"\n')
    env = {"CODEQ_CONFIG": str(config)}

    assert codeq_cli(None, "--profile", "ci", "enqueue", command, env=env).returncode == 0
    assert codeq_cli(None, "enqueue", command, env={**env, "CODEQ_PROFILE": "ci"}).returncode == 0
    assert codeq_cli(None, "enqueue", command, env=env).returncode == 7
    assert codeq_cli(None, "-p", "nope", "enqueue", command, env=env).returncode == 2
