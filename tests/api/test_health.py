"""GET /healthz and GET /readyz: no auth, JSON."""

from __future__ import annotations

from tests.api.calls import API_DB

pytestmark = API_DB


async def test_healthz_answers_200_without_a_token(http):
    r = await http.get("/healthz")

    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_readyz_checks_the_database_and_the_kv_store_and_shows_the_scheduler(http):
    r = await http.get("/readyz")

    assert r.status_code == 200  # no scheduler runs here: shown, but the web process serves the API regardless
    body = r.json()
    checks = body["checks"]
    assert {name: checks[name] for name in ("database", "kv", "scheduler")} == {"database": "ok", "kv": "ok",
                                                                               "scheduler": "down"}  # fmt: skip
    # this process's own loops are shown beside them (earlier tests' event loops may have ended theirs)
    assert set(checks) == {"database", "kv", "scheduler", "recorder", "wakeups"}
    assert (body["status"], body["scheduler"]) == ("ok", [])
    assert body["recorder"]["status"] == checks["recorder"] and body["recorder"]["flushFailures"] >= 0
