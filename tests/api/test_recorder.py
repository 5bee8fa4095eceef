"""The hot path's samples: recorded by the task views, flushed to the rollups, surviving a store outage."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.conf import settings as django_settings

from codeq_platform.api.recorder import recorder
from codeq_platform.base import kv, rollups
from codeq_platform.scheduler import stats
from tests.api.calls import API_DB, BASE, claim, create, post
from tests.api.conftest import bearer

pytestmark = API_DB


@pytest.fixture(autouse=True)
def _empty_recorder() -> None:
    recorder.tally = rollups.Tally()
    recorder.workers = {}


def window(name: str = "1h") -> rollups.Window:
    engine = kv.sync_engine()
    now = int(time.time() * 1000)
    return rollups.read_window(engine.link, engine.config.prefix, "acme", name, now, ["resize", "mail", rollups.ALL])


async def test_claims_and_results_land_in_every_window(http, tenant, producer_bearer, worker_bearer):
    for n in range(3):
        await create(http, producer_bearer, "Resize", {"n": n})
    await asyncio.sleep(0.03)  # a wait time above the first bins
    tasks = [await claim(http, worker_bearer, "resize") for _ in range(3)]
    await post(http, f"/tasks/{tasks[0]['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})
    await post(http, f"/tasks/{tasks[1]['id']}/result", worker_bearer, {"status": "FAILED", "error": "bad"})
    batch = {"results": [{"taskId": tasks[2]["id"], "status": "COMPLETED", "result": {}}]}
    r = await http.post(f"{BASE}/tasks/batch/results", headers=bearer(worker_bearer), json=batch)
    assert r.status_code == 200, r.text

    await recorder.flush()

    for name in rollups.WINDOWS:
        w = window(name)
        assert sum(w.counts("resize", "ok")) == 2 and sum(w.counts("resize", "bad")) == 1
        assert sum(w.counts(rollups.ALL, "ok")) == 2
        wait_p50 = w.overall_percentile("resize", "w", 0.5)
        assert wait_p50 is not None and 25 <= wait_p50 <= 5_000
        assert w.overall_percentile(rollups.ALL, "r", 0.95) is not None
    assert window("1h").failure_rate("resize")[-1] == pytest.approx(100 / 3)


async def test_every_dead_letter_counts_as_failed_once_whatever_made_it(http, tenant, producer_bearer, worker_bearer):
    def stats_job_looks() -> None:
        stats.record_rollups(stats.tenant_snapshot("acme", record=True))

    await create(http, producer_bearer, "mail", "hi", maxAttempts=1)
    await create(http, producer_bearer, "mail", "bye", maxAttempts=1)
    stats_job_looks()
    nacked = await claim(http, worker_bearer, "mail")
    await post(http, f"/tasks/{nacked['id']}/nack", worker_bearer, {"reason": "no"})
    await claim(http, worker_bearer, "mail", leaseSeconds=1)  # never settled: its lease runs out
    engine = kv.sync_engine()
    deadline = time.monotonic() + 60
    while engine.sweep("acme").expired == 0:
        assert time.monotonic() < deadline, "the lease never expired"
        await asyncio.sleep(0.1)
    await recorder.flush()
    assert sum(window().counts("mail", "bad")) == 0  # the API counts no dead-letter itself
    assert window().overall_percentile("mail", "r", 0.5) is not None  # but the nacked task's run time

    stats_job_looks()
    assert sum(window().counts("mail", "bad")) == 2 and sum(window().counts(rollups.ALL, "bad")) == 2
    stats_job_looks()
    assert sum(window().counts("mail", "bad")) == 2


async def test_the_worker_says_who_it_is_and_its_claims_are_counted(http, tenant, producer_bearer, worker_bearer):
    await create(http, producer_bearer, "resize")
    await create(http, producer_bearer, "resize")
    said = {"X-Codeq-Worker-Id": "box-1:42:ab", "X-Codeq-Worker-Host": "box-1", "X-Codeq-Worker-Pid": "42",
            "X-Codeq-Worker-In-Flight": "3"}  # fmt: skip
    r = await http.post(f"{BASE}/tasks/claim/batch", json={"count": 2, "commands": ["resize"]},
                        headers={**bearer(worker_bearer), **said})  # fmt: skip
    assert r.status_code == 200
    await http.post(f"{BASE}/tasks/claim", json={"commands": ["resize"]},
                    headers={**bearer(worker_bearer), "X-Codeq-Worker-Host": "<b>not a host</b>"})  # fmt: skip
    await recorder.flush()

    engine = kv.sync_engine()
    workers = rollups.read_workers(engine.link, engine.config.prefix, "acme", int(time.time() * 1000))
    by_instance = {w.instance: w for w in workers}
    box = by_instance["box-1:42:ab"]
    assert (box.host, box.pid, box.in_flight, sum(box.claims_per_minute)) == ("box-1", "42", 5, 2)
    assert box.token_name and not box.token_name.startswith("token:")
    assert by_instance[""].host == "" and by_instance[""].in_flight is None


async def test_a_flush_the_store_refuses_is_counted_and_its_figures_kept(http, tenant, producer_bearer,
                                                                        worker_bearer, settings):  # fmt: skip
    await create(http, producer_bearer, "resize")
    task = await claim(http, worker_bearer, "resize")
    await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})
    failures = recorder.flush_failures
    real_url = django_settings.CODEQ_KV_URL
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    await recorder.flush()
    assert recorder.flush_failures == failures + 1
    assert recorder.tally  # kept for the next flush
    assert recorder.state().flush_failures == failures + 1

    settings.CODEQ_KV_URL = real_url
    kv.reset()
    await recorder.flush()
    assert not recorder.tally
    assert sum(window().counts("resize", "ok")) == 1


async def test_a_flusher_that_ended_is_reported_down_and_started_again(http):
    recorder.ensure_running()
    task = recorder.task
    assert task is not None
    task.cancel()
    await asyncio.sleep(0)
    restarts = recorder.restarts

    r = await http.get("/readyz")
    assert r.json()["checks"]["recorder"] == "down"
    assert r.json()["recorder"]["restarts"] == restarts + 1
    r = await http.get("/readyz")
    assert r.json()["checks"]["recorder"] == "ok"
    r = await http.get("/metrics")
    assert "codeq_recorder_up 1.0" in r.text and f"codeq_recorder_restarts_total {restarts + 1}.0" in r.text
