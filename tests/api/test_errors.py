"""The error shape everywhere: JSON, never HTML or a 500, whatever the input; request ids; 404/405 routes."""

from __future__ import annotations

import re

import pytest

from tests.api.calls import API_DB, claimed, create, get, post

pytestmark = API_DB

ID = "6f1c1f0e-3d6b-4c47-9f1e-2f0a4c1d9b77"


def assert_answered(r) -> None:
    """No 5xx, and any body is JSON (a 204 has none)."""
    assert r.status_code < 500, r.text
    assert r.status_code == 204 or r.headers["content-type"] == "application/json", (r.status_code, r.text[:200])


def assert_json_error(r, status: int | None = None) -> None:
    assert r.status_code < 500, r.text
    if status is not None:
        assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json", r.headers
    assert isinstance(r.json()["error"], str)


async def test_request_id_is_echoed(http, producer_bearer):
    auth = {"Authorization": f"Bearer {producer_bearer}"}
    ok = await http.get(f"/v1/codeq/tasks/{ID}", headers={**auth, "X-Request-Id": "trace-42"})
    refused = await http.get("/v1/codeq/tasks", headers={"X-Request-Id": "trace-43"})

    assert ok.headers["x-request-id"] == "trace-42"
    assert refused.headers["x-request-id"] == "trace-43"


async def test_request_id_is_generated_as_32_hex_when_absent(http, producer_bearer):
    first = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1})
    second = await post(http, "/tasks", None, {})

    for r in (first, second):
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    "path", ["/v1/codeq/nope", "/v1/codeq/tasks/a/b/c", "/v1/codeq/admin", "/v1/codeq/", "/v1/codeq", "/v1"]
)
async def test_unknown_routes_under_the_prefix_are_a_json_404(http, admin_bearer, path):
    r = await http.get(path, headers={"Authorization": f"Bearer {admin_bearer}"})

    assert_json_error(r, 404)
    assert r.json()["error"] == "not found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/tasks"),
        ("DELETE", "/tasks/claim"),
        ("GET", "/tasks/claim/batch"),
        ("PUT", f"/tasks/{ID}/result"),
        ("GET", f"/tasks/{ID}/heartbeat"),
        ("POST", f"/tasks/{ID}"),
        ("POST", "/admin/queues"),
        ("GET", f"/admin/tasks/{ID}/requeue"),
        ("PATCH", "/admin/tasks/cleanup"),
    ],
)
async def test_wrong_method_is_a_json_405_naming_the_allowed_ones(http, admin_bearer, method, path):
    r = await http.request(method, f"/v1/codeq{path}", headers={"Authorization": f"Bearer {admin_bearer}"})

    assert_json_error(r, 405)
    assert r.headers["allow"]


async def test_empty_body_is_an_empty_object_where_every_field_is_optional(
    http, producer_bearer, worker_bearer, admin_bearer
):
    task = await claimed(http, producer_bearer, worker_bearer)
    auth = {"Authorization": f"Bearer {worker_bearer}"}

    assert (await http.post(f"/v1/codeq/tasks/{task['id']}/heartbeat", headers=auth)).json() == {"ok": True}
    assert (await http.post(f"/v1/codeq/tasks/{task['id']}/nack", headers=auth, content=b"  \n")).json()[
        "status"
    ] == "requeued"
    await create(http, producer_bearer, "email")
    assert (await http.post("/v1/codeq/tasks/claim", headers=auth)).status_code == 200
    cleanup = await http.post("/v1/codeq/admin/tasks/cleanup", headers={"Authorization": f"Bearer {admin_bearer}"})
    assert cleanup.status_code == 200
    empty_create = await http.post("/v1/codeq/tasks", headers={"Authorization": f"Bearer {producer_bearer}"})
    assert_json_error(empty_create, 400)
    assert empty_create.json()["error"] == "invalid command"


async def test_bodies_are_json_whatever_the_content_type(http, producer_bearer):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/octet-stream", None):
        headers = {"Authorization": f"Bearer {producer_bearer}"}
        if content_type:
            headers["Content-Type"] = content_type
        r = await http.post("/v1/codeq/tasks", headers=headers, content=b'{"command":"resize","payload":[1]}')
        assert r.status_code == 202 and r.json()["payload"] == "[1]", content_type


BAD_BODIES = [
    b"[]",
    b"[1, 2]",
    b'"a string"',
    b"42",
    b"null",
    b"true",
    b"{",
    b"\xff\xfe\x00",
    b'{"command": "resize", "payload": NaN}',
    b'{"command": "resize", "payload": 1e999999}',
    b"[" * 5000 + b"]" * 5000,
    b'{"command": "resize", "payload": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"command": "\\u0000", "payload": 1}',
    b'{"command": "r\\u00e9size\\ud83d", "payload": 1}',
    b'{"command": ["resize"], "payload": 1}',
    b'{"command": "resize", "payload": 1, "taskId": "../../etc/passwd"}',
    b'{"command": "resize", "payload": 1, "taskId": "a\\u0000b"}',
    b'{"command": "resize", "payload": 1, "idempotencyKey": "a\\u0000b"}',
    b'{"command": "resize", "payload": 1, "idempotencyKey": 5}',
    b'{"command": "resize", "payload": 1, "tags": "x"}',
    b'{"command": "resize", "payload": 1, "tags": [1]}',
    b'{"command": "resize", "payload": 1, "webhook": "javascript:alert(1)"}',
    b'{"command": "resize", "payload": 1, "runAt": 5}',
    b'{"command": "resize", "payload": 1, "runAt": "2026-01-01T00:00:00"}',
    b'{"command": "resize", "payload": 1, "maxAttempts": 1e3}',
    b'{"command": "' + b"x" * 201 + b'", "payload": 1}',
]


async def test_bad_create_bodies_are_json_400s(http, producer_bearer, admin_bearer):
    for raw in BAD_BODIES:
        r = await http.post("/v1/codeq/tasks", content=raw, headers={"Authorization": f"Bearer {producer_bearer}"})
        assert_json_error(r, 400)
    assert (await get(http, "/admin/queues", admin_bearer)).json() == {}


@pytest.mark.parametrize(
    "path",
    [
        "/tasks/claim",
        "/tasks/claim/batch",
        "/tasks/batch",
        "/tasks/batch/results",
        f"/tasks/{ID}/heartbeat",
        f"/tasks/{ID}/nack",
        f"/tasks/{ID}/abandon",
        f"/tasks/{ID}/result",
        f"/tasks/{ID}/progress",
        f"/tasks/{ID}/cancel",
        "/admin/tasks/cleanup",
        f"/admin/tasks/{ID}/requeue",
        "/admin/queues/resize/dlq/requeue",
    ],
)
async def test_no_body_makes_any_post_endpoint_answer_a_5xx_or_html(http, admin_bearer, path):
    for raw in BAD_BODIES:
        r = await http.post(f"/v1/codeq{path}", content=raw, headers={"Authorization": f"Bearer {admin_bearer}"})
        assert_answered(r)


ODD_ID_ROUTES = [
    ("GET", "/tasks/{id}"),
    ("GET", "/tasks/{id}/result"),
    ("POST", "/tasks/{id}/heartbeat"),
    ("POST", "/tasks/{id}/result"),
    ("POST", "/admin/tasks/{id}/requeue"),
    ("DELETE", "/admin/tasks/{id}"),
    ("GET", "/tasks/{id}/artifacts/{id}"),
    ("GET", "/admin/queues/{id}/tasks?state=ready&limit=99999999999999999999"),
]


async def test_odd_ids_in_every_task_route_are_json_answers(http, admin_bearer):
    odd = ["a%00b", "..%2F..%2Fetc", "%E2%9C%93", "x" * 1000, "%27%3B--", "%25", "%FF"]
    for task_id in odd:
        for method, route in ODD_ID_ROUTES:
            path = route.replace("{id}", task_id)
            r = await http.request(method, f"/v1/codeq{path}", json={"status": "COMPLETED", "result": {}},
                                   headers={"Authorization": f"Bearer {admin_bearer}"})  # fmt: skip
            assert_answered(r)
            assert r.status_code in (400, 404), (method, path, r.status_code)


async def test_huge_numbers_never_fail_the_server(http, producer_bearer):
    for raw in (b'{"command": "resize", "payload": 123456789012345678901234567890}',
                b'{"command": "resize", "payload": 1, "priority": 123456789012345678901234567890}',
                b'{"command": "resize", "payload": 1, "delaySeconds": 123456789012345678901234567890}',
                b'{"command": "resize", "payload": -1e308}'):  # fmt: skip
        r = await http.post("/v1/codeq/tasks", content=raw, headers={"Authorization": f"Bearer {producer_bearer}"})
        assert_answered(r)
        assert r.status_code in (202, 400)


async def test_a_post_to_an_unknown_route_is_a_json_404_not_a_csrf_page(http, admin_bearer):
    for path in ("/v1/codeq/nope", "/v1/codeq/tasks/..%2F..%2Fetc/heartbeat", "/v1/codeq/admin/tasks/a%2Fb"):
        r = await http.post(path, json={}, headers={"Authorization": f"Bearer {admin_bearer}"})
        assert_json_error(r, 404)


async def test_odd_query_strings_are_json_answers(http, admin_bearer):
    for query in ("waitSeconds=%00", "waitSeconds=1e3", "waitSeconds=%E2%9C%93", "waitSeconds=" + "9" * 5000):
        r = await get(http, f"/tasks/{ID}/result?{query}", admin_bearer)
        assert_json_error(r)


def _nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


async def test_values_nested_too_deeply_to_store_are_400s_and_change_nothing(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    auth = {"Authorization": f"Bearer {worker_bearer}"}
    deep = _nested(1000)

    progress = await http.post(f"/v1/codeq/tasks/{task['id']}/progress", headers=auth,
                               content=b'{"progress":' + deep + b"}")  # fmt: skip
    result = await http.post(f"/v1/codeq/tasks/{task['id']}/result", headers=auth,
                             content=b'{"status":"COMPLETED","result":{"a":' + deep + b"}}")  # fmt: skip
    create = await post(http, "/tasks", producer_bearer, None, content=b'{"command":"resize","payload":' + deep + b"}")
    long_digits = await post(http, "/tasks", producer_bearer, None, content=_nested(10_000, b"1" * 20))

    for r in (progress, result, create, long_digits):
        assert_json_error(r, 400)
    after = (await get(http, f"/tasks/{task['id']}", worker_bearer)).json()
    assert after["status"] == "IN_PROGRESS" and "progress" not in after


async def test_a_value_deeper_than_orjson_writes_is_stored_and_served(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    value: list = [1]
    for _ in range(299):
        value = [value]

    reported = await post(
        http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {"v": value}}
    )
    read = await get(http, f"/tasks/{task['id']}/result", producer_bearer)

    assert reported.status_code == 200 and reported.json()["result"] == {"v": value}
    assert read.status_code == 200 and read.json()["result"]["result"] == {"v": value}


@pytest.mark.parametrize("path", ["/v1/codeq/nope", "/v1/codeq/openapi.json", "/v1/codeq/admin/tokens", "/healthz"])
async def test_routes_served_by_django_echo_or_generate_the_request_id(http, admin_bearer, path):
    auth = {"Authorization": f"Bearer {admin_bearer}"}

    echoed = await http.get(path, headers={**auth, "X-Request-Id": "trace-44"})
    generated = await http.get(path, headers=auth)

    assert echoed.headers["x-request-id"] == "trace-44"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])


async def test_a_body_over_the_platform_cap_is_a_413_with_the_request_id(http, producer_bearer, settings):
    settings.CODEQ_MAX_BODY_BYTES = 1000
    r = await http.post("/v1/codeq/tasks", content=b"{" + b" " * 2000 + b"}",
                        headers={"Authorization": f"Bearer {producer_bearer}", "X-Request-Id": "trace-45"})  # fmt: skip

    assert_json_error(r, 413)
    assert r.headers["x-request-id"] == "trace-45"


async def test_a_plain_django_error_under_the_prefix_is_answered_in_the_error_shape(http, admin_bearer):
    r = await http.post("/v1/codeq/docs", headers={"Authorization": f"Bearer {admin_bearer}"})

    assert_json_error(r, 405)
    assert r.json()["error"] == "method not allowed" and "GET" in r.headers["allow"]
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
