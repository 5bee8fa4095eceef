"""The KV store unreachable: task endpoints answer 503 with a JSON body, and work again once it is back
(the same engine reconnecting after a restart is tested in tests/engine/test_store_outage.py)."""

from __future__ import annotations

from codeq_platform.base import kv
from tests.api.calls import API_DB
from tests.api.conftest import bearer

pytestmark = API_DB


async def test_unreachable_store_answers_503_json_then_work_resumes(http, settings, producer_bearer):
    ok = await http.post("/v1/codeq/tasks", json={"command": "x", "payload": {}}, headers=bearer(producer_bearer))
    assert ok.status_code == 202
    real_url = settings.CODEQ_KV_URL
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    for method, path, body in [
        ("POST", "/v1/codeq/tasks", {"command": "x", "payload": {}}),
        ("GET", f"/v1/codeq/tasks/{ok.json()['id']}", None),
    ]:
        r = await http.request(method, path, json=body, headers=bearer(producer_bearer))
        assert r.status_code == 503
        assert r.json()["code"] == "store_unavailable" and r.headers["Retry-After"] == "1"
    settings.CODEQ_KV_URL = real_url
    kv.reset()
    again = await http.get(f"/v1/codeq/tasks/{ok.json()['id']}", headers=bearer(producer_bearer))
    assert again.status_code == 200 and again.json()["status"] == "PENDING"
