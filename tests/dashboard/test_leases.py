"""The leases page: active leases soonest expiry first, paged by the engine's cursor, filtered by command."""

from __future__ import annotations

import re

from codeq_platform.engine import NewTask


def _task_ids(page: str) -> list[str]:
    return re.findall(r'<a href="/dashboard/t/acme/tasks/([^/]+)/">', page)


def test_leases_are_listed_soonest_expiry_first_with_worker_and_attempts(member_client, queues):
    queues.enqueue("acme", NewTask("media.resize", {}))
    queues.enqueue("acme", NewTask("media.resize", {}))
    long = queues.claim("acme", "worker-long", ["media.resize"], lease_ms=600_000)[0]
    short = queues.claim("acme", "worker-short", ["media.resize"], lease_ms=60_000)[0]

    page = member_client("viewer").get("/dashboard/t/acme/leases/").content.decode()

    assert _task_ids(page) == [short.id, long.id]
    assert "worker-short" in page and "1 / 5" in page
    assert re.search(rf'data-expires-ms="{short.lease_until_ms}">(59|1 m 0) s?', page)


def test_leases_are_paged_with_a_cursor(member_client, queues):
    queues.enqueue_batch("acme", [NewTask("media.resize", {"i": i}) for i in range(55)])
    claimed = [queues.claim("acme", "w", ["media.resize"], lease_ms=60_000 + i * 1000)[0].id for i in range(55)]
    client = member_client("viewer")

    first = client.get("/dashboard/t/acme/leases/").content.decode()
    next_link = re.search(r'<a rel="next" href="\?cursor=([^"&]+)"', first)
    second = client.get("/dashboard/t/acme/leases/", {"cursor": next_link.group(1).replace("%3A", ":")})

    assert _task_ids(first) == claimed[:50]
    assert _task_ids(second.content.decode()) == claimed[50:]
    assert 'rel="next"' not in second.content.decode()


def test_leases_filter_by_command(member_client, queues):
    queues.enqueue("acme", NewTask("media.resize", {}))
    queues.enqueue("acme", NewTask("mail.send", {}))
    mail = queues.claim("acme", "w", ["mail.send"])[0]
    queues.claim("acme", "w", ["media.resize"])

    page = member_client("viewer").get("/dashboard/t/acme/leases/", {"command": "mail.send"}).content.decode()

    assert _task_ids(page) == [mail.id]


def test_a_bad_cursor_is_a_clear_400(member_client, queues):
    r = member_client("viewer").get("/dashboard/t/acme/leases/", {"cursor": "garbage"})

    assert r.status_code == 400
    assert "not valid" in r.content.decode()


def test_no_leases_says_so(member_client, queues):
    assert "No task is leased right now." in member_client("viewer").get("/dashboard/t/acme/leases/").content.decode()
