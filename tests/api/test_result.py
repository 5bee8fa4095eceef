"""POST /v1/codeq/tasks/{id}/result, POST /tasks/batch/results and the artifacts they store."""

from __future__ import annotations

import base64
import json

import pytest

from codeq_platform.base import kv
from codeq_platform.engine import NewTask
from tests.api.calls import API_DB, claim, claimed, create, get, mint, post
from tests.api.conftest import bearer

pytestmark = API_DB

MISSING = "6f1c1f0e-3d6b-4c47-9f1e-2f0a4c1d9b77"


@pytest.fixture
def other_worker(tenant) -> str:
    return mint(tenant, "worker")


async def test_create_claim_heartbeat_result_then_get_result(http, producer_bearer, worker_bearer):
    task = await create(http, producer_bearer, "resize", {"w": 1})
    held = await claim(http, worker_bearer)
    assert (await post(http, f"/tasks/{task['id']}/heartbeat", worker_bearer, {"extendSeconds": 60})).json() == {
        "ok": True
    }

    r = await post(http, f"/tasks/{held['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {"ok": 1}})

    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"taskId", "status", "result", "error", "artifacts", "completedAt"}
    assert body["taskId"] == task["id"] and body["status"] == "COMPLETED" and body["result"] == {"ok": 1}
    assert body["error"] is None and body["artifacts"] == []
    got = await get(http, f"/tasks/{task['id']}/result", producer_bearer)
    assert got.status_code == 200 and got.json()["result"] == body
    assert got.json()["task"]["status"] == "COMPLETED" and "workerId" not in got.json()["task"]


BIG = 123456789012345678901234567890  # beyond 64 bits
LONG = "t" * 201


async def test_integers_beyond_64_bits_come_back_exactly_as_sent(http, producer_bearer, worker_bearer):
    task = await create(http, producer_bearer, "resize", {"id": BIG, "neg": -BIG, "ratio": 0.5})
    assert json.loads(task["payload"]) == {"id": BIG, "neg": -BIG, "ratio": 0.5}
    held = await claim(http, worker_bearer)
    assert (
        await post(http, f"/tasks/{held['id']}/progress", worker_bearer, {"progress": {"n": BIG}})
    ).status_code == 200

    r = await post(
        http, f"/tasks/{held['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {"sum": 2 * BIG}}
    )

    assert r.status_code == 200 and r.json()["result"] == {"sum": 2 * BIG}
    got = (await get(http, f"/tasks/{task['id']}/result", producer_bearer)).json()
    assert got["result"]["result"] == {"sum": 2 * BIG} and got["task"]["progress"] == {"n": BIG}


async def test_a_body_with_long_numbers_and_a_nan_is_still_a_400(http, producer_bearer):
    body = b'{"command": "resize", "payload": {"id": 123456789012345678901234567890, "x": NaN}}'
    r = await http.post("/v1/codeq/tasks", content=body, headers=bearer(producer_bearer))
    assert r.status_code == 400 and r.json()["error"] == "invalid body"


async def test_failed_result_is_final_and_not_dead_lettered(http, producer_bearer, worker_bearer, admin_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "FAILED", "error": "bad input"})

    assert r.status_code == 200 and r.json()["status"] == "FAILED" and r.json()["error"] == "bad input"
    seen = (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()
    assert seen["status"] == "FAILED" and seen["error"] == "bad input"
    dlq = await get(http, "/admin/queues/resize/tasks?state=dlq", admin_bearer)
    assert dlq.json() == {"tasks": []}
    assert (await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})).status_code == 204


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "invalid status"),
        ({"status": "DONE", "result": {}}, "invalid status"),
        ({"status": "completed", "result": {}}, "invalid status"),
        ({"status": None}, "invalid status"),
        ({"status": "COMPLETED"}, "result required when status=COMPLETED"),
        ({"status": "COMPLETED", "result": None}, "result required when status=COMPLETED"),
        ({"status": "FAILED"}, "error required when status=FAILED"),
        ({"status": "FAILED", "error": ""}, "error required when status=FAILED"),
        ({"status": "FAILED", "error": "   "}, "error required when status=FAILED"),
        ({"status": "FAILED", "error": "\t\r\n"}, "error required when status=FAILED"),
        ({"status": "FAILED", "error": 5}, "invalid 'error' (must be a string)"),
    ],
)
async def test_bad_result_is_a_400_with_the_contracts_message(http, producer_bearer, worker_bearer, body, message):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/result", worker_bearer, body)

    assert r.status_code == 400 and r.json()["error"] == message
    assert (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()["status"] == "IN_PROGRESS"


async def test_an_artifact_content_type_that_is_not_a_string_is_a_400(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    artifact = {"name": "log.txt", "contentBase64": base64.b64encode(b"hi").decode(), "contentType": 5}

    r = await post(http, f"/tasks/{task['id']}/result", worker_bearer,
                   {"status": "COMPLETED", "result": {}, "artifacts": [artifact]})  # fmt: skip

    assert r.status_code == 400 and r.json()["field"] == "artifacts"
    assert (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()["status"] == "IN_PROGRESS"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain\r\nSet-Cookie: a=b",
        "text/html\n",
        "text",
        "a/b; q",
        'text/plain; x="\r"',
        "t/" + "x" * 200,
        "tëxt/plain",
    ],
)
async def test_an_artifact_content_type_that_is_not_a_media_type_is_a_400(http, producer_bearer, worker_bearer,
                                                                          content_type):  # fmt: skip
    task = await claimed(http, producer_bearer, worker_bearer)
    artifact = {"name": "log.txt", "contentBase64": base64.b64encode(b"hi").decode(), "contentType": content_type}

    r = await post(http, f"/tasks/{task['id']}/result", worker_bearer,
                   {"status": "COMPLETED", "result": {}, "artifacts": [artifact]})  # fmt: skip

    assert r.status_code == 400 and r.json()["field"] == "artifacts"
    assert (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()["status"] == "IN_PROGRESS"


async def test_other_bad_results_are_400_and_keep_the_task(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    for body in (
        [1],
        "COMPLETED",
        {"status": "COMPLETED", "result": [1]},
        {"status": "COMPLETED", "result": "x"},
        {"status": "COMPLETED", "result": {}, "error": 5},
        {"status": "COMPLETED", "result": {}, "artifacts": "x"},
        {"status": "COMPLETED", "result": {}, "artifacts": [{"url": "https://x"}]},
        {"status": "COMPLETED", "result": {}, "artifacts": [{"name": "a", "contentBase64": "%%%"}]},
        {"status": "COMPLETED", "result": {}, "artifacts": [{"name": "n" * 201, "url": "https://x"}]},
        {"status": "COMPLETED", "result": {}, "artifacts": [{"name": "logs/a.txt", "url": "https://x"}]},
        {"status": "COMPLETED", "result": {}, "artifacts": [{"name": "a", "url": "https://x"}] * 2},
        {"status": "COMPLETED", "result": {}, "artifacts": [{"name": "a", "contentBase64": "", "contentType": LONG}]},
    ):
        r = await post(http, f"/tasks/{task['id']}/result", worker_bearer, body)
        assert r.status_code == 400, body
    assert (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()["status"] == "IN_PROGRESS"


async def test_result_from_another_holder_is_403_not_owner(http, producer_bearer, worker_bearer, other_worker):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/result", other_worker, {"status": "COMPLETED", "result": {}})

    assert r.status_code == 403 and r.json()["error"] == "not-owner"
    assert (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()["status"] == "IN_PROGRESS"


async def test_result_for_a_task_nobody_holds_is_409_not_in_progress(http, producer_bearer, worker_bearer):
    pending = await create(http, producer_bearer)

    r = await post(http, f"/tasks/{pending['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})

    assert r.status_code == 409 and r.json()["error"] == "not-in-progress"


async def test_a_result_after_the_task_finished_is_409_and_the_first_stays(
    http, producer_bearer, worker_bearer, other_worker
):
    task = await claimed(http, producer_bearer, worker_bearer)
    await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {"v": 1}})

    r = await post(http, f"/tasks/{task['id']}/result", other_worker, {"status": "FAILED", "error": "late"})

    assert r.status_code == 409 and r.json()["error"] == "not-in-progress"
    got = (await get(http, f"/tasks/{task['id']}/result", producer_bearer)).json()
    assert got["result"]["status"] == "COMPLETED" and got["result"]["result"] == {"v": 1}


async def test_the_holders_retried_result_answers_the_stored_one(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    first = await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {"v": 1}})

    again = await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "FAILED", "error": "late"})

    assert again.status_code == 200 and again.json() == first.json()


async def test_foreign_or_missing_task_is_404_task_not_found(http, producer_bearer, worker_bearer, foreign_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    body = {"status": "COMPLETED", "result": {}}

    foreign = await post(http, f"/tasks/{task['id']}/result", foreign_bearer, body)
    missing = await post(http, f"/tasks/{MISSING}/result", worker_bearer, body)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() and foreign.json()["error"] == "task not found"
    assert (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()["status"] == "IN_PROGRESS"


async def test_producer_may_not_report_results(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/result", producer_bearer, {"status": "COMPLETED", "result": {}})

    assert r.status_code == 403 and r.json()["error"] == "forbidden"


# -- artifacts -------------------------------------------------------------------------------------------------


async def test_inline_artifacts_are_served_by_the_platform_and_links_are_kept(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    content = "héllo\x00world".encode()
    artifacts = [
        {"name": "out.txt", "contentBase64": base64.b64encode(content).decode(), "contentType": "text/plain"},
        {"name": "big.bin", "url": "https://files.example.com/big.bin"},
    ]

    r = await post(http, f"/tasks/{task['id']}/result", worker_bearer,
                   {"status": "COMPLETED", "result": {}, "artifacts": artifacts})  # fmt: skip

    assert r.json()["artifacts"] == [
        {"name": "out.txt", "url": f"/v1/codeq/tasks/{task['id']}/artifacts/out.txt"},
        {"name": "big.bin", "url": "https://files.example.com/big.bin"},
    ]
    served = await get(http, f"/tasks/{task['id']}/artifacts/out.txt", producer_bearer)
    assert served.status_code == 200 and served.content == content
    assert served.headers["content-type"].startswith("text/plain")


async def test_an_html_artifact_is_a_sandboxed_download_never_a_page_of_the_origin(http, producer_bearer,
                                                                                   worker_bearer):  # fmt: skip
    task = await claimed(http, producer_bearer, worker_bearer)
    page = b"<script>fetch('/dashboard/')</script>"
    artifacts = [{"name": "report \"1\".html", "contentBase64": base64.b64encode(page).decode(),
                  "contentType": "text/html; charset=utf-8"}]  # fmt: skip
    await post(http, f"/tasks/{task['id']}/result", worker_bearer,
               {"status": "COMPLETED", "result": {}, "artifacts": artifacts})  # fmt: skip

    served = await get(http, f"/tasks/{task['id']}/artifacts/report%20%221%22.html", producer_bearer)

    assert served.status_code == 200 and served.content == page
    assert served.headers["content-type"] == "text/html; charset=utf-8"
    assert served.headers["content-disposition"] == 'attachment; filename="report \\"1\\".html"'
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"


async def test_an_artifact_stored_with_a_broken_content_type_is_served_as_bytes(http, tenant, producer_bearer):
    engine = kv.async_engine()
    task = (await engine.enqueue("acme", NewTask("render", {}))).task
    await engine.claim("acme", "w", ["render"])
    stored = {"name": "a.txt", "contentType": "text/plain\r\nX: y", "contentBase64": base64.b64encode(b"hi").decode()}
    await engine.complete("acme", task.id, "w", {}, artifacts=[stored])  # as accepted before the type was checked

    served = await get(http, f"/tasks/{task.id}/artifacts/a.txt", producer_bearer)

    assert served.status_code == 200 and served.content == b"hi"
    assert served.headers["content-type"] == "application/octet-stream" and "x" not in served.headers


async def test_unknown_artifact_or_foreign_task_is_404(http, producer_bearer, worker_bearer, foreign_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    artifacts = [{"name": "a", "contentBase64": base64.b64encode(b"x").decode()}]
    await post(http, f"/tasks/{task['id']}/result", worker_bearer,
               {"status": "COMPLETED", "result": {}, "artifacts": artifacts})  # fmt: skip

    assert (await get(http, f"/tasks/{task['id']}/artifacts/b", producer_bearer)).status_code == 404
    foreign = await get(http, f"/tasks/{task['id']}/artifacts/a", foreign_bearer)
    assert foreign.status_code == 404 and foreign.headers["content-type"] == "application/json"
    assert (await get(http, f"/tasks/{MISSING}/artifacts/a", producer_bearer)).status_code == 404


# -- batch results ---------------------------------------------------------------------------------------------


async def test_batch_results_report_each_item_in_order(http, producer_bearer, worker_bearer, other_worker):
    done = await claimed(http, producer_bearer, worker_bearer)
    failed = await claimed(http, producer_bearer, worker_bearer)
    not_mine = await claimed(http, producer_bearer, other_worker)
    pending = await create(http, producer_bearer)

    r = await post(http, "/tasks/batch/results", worker_bearer, {"results": [
        {"taskId": done["id"], "status": "COMPLETED", "result": {"v": 1}},
        {"taskId": failed["id"], "status": "FAILED", "error": "nope"},
        {"taskId": not_mine["id"], "status": "COMPLETED", "result": {}},
        {"taskId": pending["id"], "status": "COMPLETED", "result": {}},
        {"taskId": MISSING, "status": "COMPLETED", "result": {}},
        {"taskId": done["id"], "status": "COMPLETED"},
        {"status": "COMPLETED", "result": {}},
        "junk",
    ]})  # fmt: skip

    assert r.status_code == 200
    out = r.json()["results"]
    assert out[0]["taskId"] == done["id"] and out[0]["result"]["status"] == "COMPLETED"
    assert out[1]["result"]["status"] == "FAILED" and out[1]["result"]["error"] == "nope"
    assert out[2] == {"taskId": not_mine["id"], "error": "not-owner"}
    assert out[3] == {"taskId": pending["id"], "error": "not-in-progress"}
    assert out[4] == {"taskId": MISSING, "error": "task not found"}
    assert out[5] == {"taskId": done["id"], "error": "result required when status=COMPLETED"}
    assert out[6] == {"taskId": None, "error": "taskId is required"} and out[7]["error"] == "taskId is required"
    assert (await get(http, f"/tasks/{done['id']}", producer_bearer)).json()["status"] == "COMPLETED"
    assert (await get(http, f"/tasks/{not_mine['id']}", producer_bearer)).json()["status"] == "IN_PROGRESS"


@pytest.mark.parametrize("size", [0, 101])
async def test_batch_results_outside_1_to_100_is_a_400(http, worker_bearer, size):
    items = [{"taskId": MISSING, "status": "COMPLETED", "result": {}}] * size

    r = await post(http, "/tasks/batch/results", worker_bearer, {"results": items})

    assert r.status_code == 400 and r.json()["field"] == "results"


async def test_batch_results_of_100_items_is_accepted(http, worker_bearer):
    items = [{"taskId": MISSING, "status": "COMPLETED", "result": {}}] * 100

    r = await post(http, "/tasks/batch/results", worker_bearer, {"results": items})

    assert r.status_code == 200 and len(r.json()["results"]) == 100


async def test_batch_results_body_must_hold_a_results_list(http, worker_bearer, producer_bearer):
    for body in ({}, {"results": {}}, {"results": "x"}, [1]):
        assert (await post(http, "/tasks/batch/results", worker_bearer, body)).status_code == 400, body
    forbidden = await post(http, "/tasks/batch/results", producer_bearer, {"results": []})
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"


async def test_batch_results_on_a_foreign_task_say_task_not_found(http, producer_bearer, worker_bearer, foreign_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, "/tasks/batch/results", foreign_bearer,
                   {"results": [{"taskId": task["id"], "status": "COMPLETED", "result": {}}]})  # fmt: skip

    assert r.json() == {"results": [{"taskId": task["id"], "error": "task not found"}]}
