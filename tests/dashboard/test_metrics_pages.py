"""The Metrics and Workers pages served by Django: bad filters, a store that is down, the live parts."""

from __future__ import annotations

import time

from codeq_platform.base import kv, rollups


def test_a_bad_window_or_command_is_a_400_page(member_client, tenant):
    viewer = member_client("viewer")
    assert viewer.get(f"/dashboard/t/{tenant.slug}/metrics/", {"window": "2d"}).status_code == 400
    answer = viewer.get(f"/dashboard/t/{tenant.slug}/metrics/", {"command": "a/b"})
    assert answer.status_code == 400 and "not a command name" in answer.content.decode()


def test_a_store_that_is_down_is_a_503_page(member_client, tenant, settings):
    viewer = member_client("viewer")
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    for page in ("metrics", "workers"):
        answer = viewer.get(f"/dashboard/t/{tenant.slug}/{page}/")
        assert answer.status_code == 503 and "not answering" in answer.content.decode()


def test_the_live_parts_carry_the_figures_of_one_command(member_client, tenant, queues):
    tally = rollups.Tally()
    now_ms = int(time.time() * 1000)
    tally.add(tenant.slug, now_ms, "resize", "ok", 7)
    tally.add(tenant.slug, now_ms, "mail", "ok", 2)
    for calls in tally.calls(queues.config.prefix).values():
        queues.link.execute_many(calls)
    viewer = member_client("viewer")
    part = viewer.get(f"/dashboard/t/{tenant.slug}/metrics/", {"command": "Resize", "part": "charts"})
    text = part.content.decode()
    assert part.status_code == 200 and "<html" not in text
    assert 'data-testid="completed">7<' in text
    table = viewer.get(f"/dashboard/t/{tenant.slug}/workers/", {"part": "table"}).content.decode()
    assert "No worker has called in the last hour." in table and "<html" not in table
