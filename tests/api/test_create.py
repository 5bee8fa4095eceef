import json

import pytest

from tests.api.conftest import bearer


async def test_create_answers_202_with_the_pending_task(http, producer_bearer):
    r = await http.post(
        "/v1/codeq/tasks",
        json={"command": "Media.Resize", "payload": {"w": 640}, "priority": 7},
        headers=bearer(producer_bearer),
    )
    assert r.status_code == 202
    task = r.json()
    assert task["status"] == "PENDING" and task["priority"] == 7 and task["attempts"] == 0
    assert task["maxAttempts"] == 5 and task["tenantId"] == "acme"
    assert json.loads(task["payload"]) == {"w": 640}
    got = await http.get(f"/v1/codeq/tasks/{task['id']}", headers=bearer(producer_bearer))
    assert got.status_code == 200 and got.json()["id"] == task["id"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"payload": {}}, "invalid command"),
        ({"command": "a b", "payload": {}}, "invalid command"),
        ({"command": "x"}, "payload is required"),
        ({"command": "x", "payload": {}, "priority": 10}, "invalid 'priority' (must be 0-9)"),
        ({"command": "x", "payload": {}, "webhook": "ftp://x"}, "invalid webhook url"),
        ({"command": "x", "payload": {}, "webhook": "http://h:99999/"}, "invalid webhook url"),
        ({"command": "x", "payload": {}, "webhook": "http://h:0/"}, "invalid webhook url"),
        ({"command": "x", "payload": {}, "webhook": "http://h:port/"}, "invalid webhook url"),
        ({"command": "x", "payload": {}, "webhook": "http://[::1"}, "invalid webhook url"),
        ({"command": "x", "payload": {}, "runAt": "tomorrow"}, "invalid 'runAt' (use RFC3339)"),
        ({"command": "x", "payload": {}, "delaySeconds": -1}, "invalid 'delaySeconds' (must be >= 0)"),
    ],
)
async def test_bad_create_is_a_400_naming_the_problem(http, producer_bearer, body, message):
    r = await http.post("/v1/codeq/tasks", json=body, headers=bearer(producer_bearer))
    assert r.status_code == 400
    assert r.json()["error"] == message


async def test_body_that_is_not_json_is_a_400(http, producer_bearer):
    r = await http.post("/v1/codeq/tasks", content=b"{nope", headers=bearer(producer_bearer))
    assert r.status_code == 400 and r.json()["error"] == "invalid body"


@pytest.mark.parametrize("run_at", ["1960-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00"])
async def test_run_at_before_1970_is_as_past_as_any_and_ready_now(http, producer_bearer, worker_bearer, run_at):
    r = await http.post("/v1/codeq/tasks", json={"command": "x", "payload": 1, "runAt": run_at},
                        headers=bearer(producer_bearer))  # fmt: skip
    claimed = await http.post("/v1/codeq/tasks/claim", json={"commands": ["x"]}, headers=bearer(worker_bearer))

    assert r.status_code == 202
    assert claimed.status_code == 200 and claimed.json()["id"] == r.json()["id"]
