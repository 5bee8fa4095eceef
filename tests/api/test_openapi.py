"""GET /v1/codeq/openapi.json and /v1/codeq/docs; real responses checked against the published schema."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from django.conf import settings

from codeq_platform.api.inputs import COMMAND, TASK_ID
from tests.api.calls import claim, claimed, create, get, post
from tests.api.conftest import bearer

# Swagger UI's template lives in drf_spectacular, so every app stays available here (the full flush).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def spec(http) -> dict:
    r = await http.get("/v1/codeq/openapi.json")
    assert r.status_code == 200
    return r.json()


def _nullable_as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` is ``type: [t, "null"]`` in JSON Schema."""
    if isinstance(node, dict):
        out = {k: _nullable_as_json_schema(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True:
            if "type" in out:
                out["type"] = [out["type"], "null"]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_nullable_as_json_schema(v) for v in node]
    return node


def assert_matches(spec: dict, path: str, method: str, status: int, body: Any) -> None:
    """``body`` validates against the schema the spec gives for that response (components resolved)."""
    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    document = _nullable_as_json_schema({**schema, "components": spec["components"]})
    jsonschema.Draft202012Validator(document, format_checker=jsonschema.FormatChecker()).validate(body)


async def test_spec_is_openapi_3_and_documents_every_route(spec):
    assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"])
    assert spec["info"]["title"] and spec["info"]["version"]
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    expected = {
        "/v1/codeq/tasks": {"post"},
        "/v1/codeq/tasks/batch": {"post"},
        "/v1/codeq/tasks/claim": {"post"},
        "/v1/codeq/tasks/claim/batch": {"post"},
        "/v1/codeq/tasks/batch/results": {"post"},
        "/v1/codeq/tasks/{task_id}": {"get"},
        "/v1/codeq/tasks/{task_id}/heartbeat": {"post"},
        "/v1/codeq/tasks/{task_id}/abandon": {"post"},
        "/v1/codeq/tasks/{task_id}/nack": {"post"},
        "/v1/codeq/tasks/{task_id}/result": {"get", "post"},
        "/v1/codeq/tasks/{task_id}/progress": {"post"},
        "/v1/codeq/admin/queues": {"get"},
        "/v1/codeq/admin/queues/{command}": {"get"},
        "/v1/codeq/admin/queues/{command}/tasks": {"get"},
        "/v1/codeq/admin/queues/{command}/pause": {"post"},
        "/v1/codeq/admin/queues/{command}/resume": {"post"},
        "/v1/codeq/admin/queues/{command}/limits": {"put"},
        "/v1/codeq/admin/tasks/{task_id}/requeue": {"post"},
        "/v1/codeq/admin/queues/{command}/dlq/requeue": {"post"},
        "/v1/codeq/admin/tasks/{task_id}": {"delete"},
        "/v1/codeq/admin/tasks/cleanup": {"post"},
        "/v1/codeq/admin/schedules": {"get"},
        "/v1/codeq/admin/schedules/{name}": {"get", "put", "delete"},
        "/v1/codeq/admin/usage": {"get"},
    }
    for path, methods in expected.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), path


async def test_every_operation_is_structurally_sound(spec):
    operation_ids = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            operation_ids.append(operation["operationId"])
            assert operation["responses"], (path, method)
            for param in re.findall(r"{(\w+)}", path):
                names = {p["name"] for p in operation.get("parameters", []) + item.get("parameters", [])}
                assert param in names, (path, method, param)
            for status in operation["responses"]:
                assert re.fullmatch(r"[1-5]\d\d|default", status), (path, status)
    assert len(operation_ids) == len(set(operation_ids))
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', __import__("json").dumps(spec))
    assert set(refs) <= set(spec["components"]["schemas"])


async def test_swagger_ui_is_served_with_local_scripts(http):
    r = await http.get("/v1/codeq/docs")

    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "swagger" in html.lower()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources
    for source in sources:
        assert not re.match(r"(https?:)?//", source), source
    assert "cdn" not in html.lower()
    assert any(s.startswith(f"/{settings.STATIC_URL.strip('/')}/drf_spectacular_sidecar/") for s in sources)


async def test_real_responses_validate_against_the_schema(http, spec, producer_bearer, worker_bearer, admin_bearer):
    created = await create(http, producer_bearer, "resize", {"a": [1, "x"]}, priority=4, idempotencyKey="k")
    assert_matches(spec, "/v1/codeq/tasks", "post", 202, created)
    held = await claim(http, worker_bearer)
    assert_matches(spec, "/v1/codeq/tasks/claim", "post", 200, held)
    got = (await get(http, f"/tasks/{held['id']}", producer_bearer)).json()
    assert_matches(spec, "/v1/codeq/tasks/{task_id}", "get", 200, got)
    await post(http, f"/tasks/{held['id']}/progress", worker_bearer, {"progress": {"pct": 50}})
    reported = await post(http, f"/tasks/{held['id']}/result", worker_bearer,
                          {"status": "COMPLETED", "result": {"ok": True},
                           "artifacts": [{"name": "a", "url": "https://x.example/a"}]})  # fmt: skip
    assert_matches(spec, "/v1/codeq/tasks/{task_id}/result", "post", 200, reported.json())
    both = (await get(http, f"/tasks/{held['id']}/result", producer_bearer)).json()
    assert_matches(spec, "/v1/codeq/tasks/{task_id}/result", "get", 200, both)
    failed = await claimed(http, producer_bearer, worker_bearer)
    answer = await post(http, f"/tasks/{failed['id']}/result", worker_bearer, {"status": "FAILED", "error": "e"})
    assert_matches(spec, "/v1/codeq/tasks/{task_id}/result", "post", 200, answer.json())
    await create(http, producer_bearer, delaySeconds=30)
    detail = (await get(http, "/admin/queues/resize", admin_bearer)).json()
    assert_matches(spec, "/v1/codeq/admin/queues/{command}", "get", 200, detail)
    page = (await get(http, "/admin/queues/resize/tasks?state=delayed", admin_bearer)).json()
    assert_matches(spec, "/v1/codeq/admin/queues/{command}/tasks", "get", 200, page)
    limited = await http.put("/v1/codeq/admin/queues/resize/limits", json={"maxInFlight": 2},
                             headers={"Authorization": f"Bearer {admin_bearer}"})  # fmt: skip
    assert_matches(spec, "/v1/codeq/admin/queues/{command}/limits", "put", 200, limited.json())
    paused = await post(http, "/admin/queues/resize/pause", admin_bearer)
    assert_matches(spec, "/v1/codeq/admin/queues/{command}/pause", "post", 200, paused.json())
    queues = (await get(http, "/admin/queues", admin_bearer)).json()
    assert queues and all(key.startswith("codeq:q:resize:") for key in queues)
    assert_matches(spec, "/v1/codeq/admin/queues", "get", 200, queues)


async def test_the_schema_declares_what_the_server_enforces(spec):
    """Generated clients check what the schema says: bodies are JSON, ids and commands have the
    server's patterns, page sizes the server's bounds."""
    patterns = {"command": COMMAND, "task_id": TASK_ID}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert set(operation["requestBody"]["content"]) == {"application/json"}, (path, method)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in patterns:
                    assert parameter["schema"]["pattern"] == patterns[parameter["name"]], (path, parameter)
    listing = spec["paths"]["/v1/codeq/admin/queues/{command}/tasks"]["get"]["parameters"]
    limit = next(p for p in listing if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 500, 100)


async def test_the_worker_routes_document_the_headers_a_worker_says_who_it_is_by(spec):
    said = {"X-Codeq-Worker-Id", "X-Codeq-Worker-Host", "X-Codeq-Worker-Pid", "X-Codeq-Worker-In-Flight"}
    routes = ("claim", "claim/batch", "{task_id}/heartbeat", "{task_id}/nack", "{task_id}/result", "batch/results")
    worker_routes = {(f"/v1/codeq/tasks/{route}", "post") for route in routes}
    documented = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
            if headers:
                assert set(headers) == said and not any(p.get("required") for p in headers.values()), (path, method)
                assert all(p["description"] for p in headers.values())
                documented.add((path, method))
    assert documented == worker_routes


async def test_error_responses_validate_against_the_error_schema(http, spec, producer_bearer):
    r = await post(http, "/tasks", producer_bearer, {"command": "resize"})

    assert_matches(spec, "/v1/codeq/tasks", "post", 400, r.json())


async def test_schedule_responses_validate_against_the_schema(http, spec, admin_bearer):
    path = "/v1/codeq/admin/schedules/{name}"
    body = {"cron": "@every 30s", "command": "report", "payload": [1], "webhook": "https://hooks.example/r"}
    created = await http.put("/v1/codeq/admin/schedules/nightly", json=body, headers=bearer(admin_bearer))
    assert_matches(spec, path, "put", 201, created.json())
    paused = await http.put("/v1/codeq/admin/schedules/nightly", json={**body, "paused": True},
                            headers=bearer(admin_bearer))  # fmt: skip
    assert_matches(spec, path, "put", 200, paused.json())
    assert_matches(spec, path, "get", 200, (await get(http, "/admin/schedules/nightly", admin_bearer)).json())
    listed = await get(http, "/admin/schedules", admin_bearer)
    assert_matches(spec, "/v1/codeq/admin/schedules", "get", 200, listed.json())
    invalid = await http.put("/v1/codeq/admin/schedules/nightly", json={**body, "cron": "bad"},
                             headers=bearer(admin_bearer))  # fmt: skip
    assert_matches(spec, path, "put", 422, invalid.json())
