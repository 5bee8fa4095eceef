"""The overview page: per-command depths by priority, delayed, in flight, DLQ, oldest ready age, totals."""

from __future__ import annotations

import re
import socket

from codeq_platform.base import kv
from codeq_platform.engine import NewTask
from codeq_platform.scheduler import stats


def _row(page: str, command: str) -> str:
    match = re.search(rf'<tr data-command="{re.escape(command)}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {command}"
    return match.group(1)


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _total(page: str, name: str) -> str:
    return re.search(rf'data-total="{name}"[^>]*>([^<]*)<', page).group(1)


def test_a_new_tenant_has_no_commands_yet(member_client, queues):
    page = member_client("viewer").get("/dashboard/t/acme/").content.decode()

    assert "No tasks yet" in page
    assert _total(page, "ready") == "0"


def test_each_command_shows_its_depths_split_by_priority(member_client, queues):
    for priority in (9, 9, 5, 0):
        queues.enqueue("acme", NewTask("media.resize", {"p": priority}, priority=priority))
    queues.enqueue("acme", NewTask("media.resize", {}, delay_ms=60_000))
    queues.enqueue("acme", NewTask("mail.send", {}))
    queues.enqueue("acme", NewTask("mail.send", {}))
    queues.claim("acme", "w1", ["mail.send"])

    page = member_client("viewer").get("/dashboard/t/acme/").content.decode()

    row = _row(page, "media.resize")
    ready, _prios, delayed, in_flight, dlq, oldest, _trend = _cells(row)
    assert (ready, delayed, in_flight, dlq) == ("4", "1", "0", "0")
    assert re.findall(r'<span class="chip"[^>]*>([^<]*)</span>', row) == ["p9 2", "p5 1", "p0 1"]
    assert oldest.endswith(" s")
    mail = _cells(_row(page, "mail.send"))
    assert (mail[0], mail[2], mail[3]) == ("1", "0", "1")
    assert (_total(page, "ready"), _total(page, "delayed"), _total(page, "in_flight")) == ("5", "1", "1")


def test_dead_letters_link_to_the_commands_dlq(member_client, queues):
    queues.enqueue("acme", NewTask("media.resize", {}, max_attempts=1))
    task = queues.claim("acme", "w1", ["media.resize"])[0]
    queues.nack("acme", task.id, "w1", reason="boom")

    page = member_client("viewer").get("/dashboard/t/acme/").content.decode()

    assert '<a class="badge badge-bad" href="/dashboard/t/acme/dlq/media.resize/">1</a>' in _row(page, "media.resize")
    assert _total(page, "dlq") == "1"


def test_the_page_connects_to_its_own_tenants_socket(member_client, queues):
    page = member_client("viewer").get("/dashboard/t/acme/").content.decode()

    assert 'data-socket="/dashboard/ws/t/acme/stats/"' in page


def test_another_tenants_tasks_never_show(member_client, foreign_tenant, queues):
    queues.enqueue("globex", NewTask("secret.work", {}))

    page = member_client("admin").get("/dashboard/t/acme/").content.decode()

    assert "secret.work" not in page


def test_the_last_hour_chart_counts_what_finished_since_the_stats_job_looked(member_client, queues):
    queues.enqueue_batch("acme", [NewTask("media.resize", {"i": i}, max_attempts=1) for i in range(4)])
    stats.tenant_snapshot("acme", record=True)  # the stats job's tick
    for i, task in enumerate(queues.claim("acme", "w1", ["media.resize"], count=3)):
        if i < 2:
            queues.complete("acme", task.id, "w1", {"ok": True})
        else:
            queues.nack("acme", task.id, "w1", reason="boom")

    page = member_client("viewer").get("/dashboard/t/acme/").content.decode()

    assert 'aria-label="Last hour: 2 completed, 1 failed; busiest minute 3"' in _row(page, "media.resize")
    assert (_total(page, "completed"), _total(page, "failed")) == ("2", "1")


def test_a_store_outage_shows_a_page_that_says_so(member_client, queues, settings):
    client = member_client("viewer")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings.CODEQ_KV_URL = f"redis://127.0.0.1:{closed_port}/0"
    kv.reset()

    for page in ("", "leases/", "tasks/some-task/"):
        r = client.get(f"/dashboard/t/acme/{page}")
        assert r.status_code == 503, page
        assert "The queue store is not answering right now" in r.content.decode()
