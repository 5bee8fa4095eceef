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
    assert body["checks"] == {"database": "ok", "kv": "ok", "scheduler": "down", "recorder": "ok", "wakeups": "idle"}
    assert (body["status"], body["scheduler"]) == ("ok", [])
    assert body["recorder"]["status"] == "ok" and body["recorder"]["flushFailures"] >= 0
