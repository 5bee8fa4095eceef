"""The contract's role table (reference §2) and the 401 wiring, endpoint by endpoint.

A role the table forbids gets 403 ``{"error": "forbidden"}`` before anything else is looked at; an
allowed role gets past the check (whatever the endpoint then answers about the missing task).
"""

from __future__ import annotations

import pytest

from tests.api.calls import API_DB

pytestmark = API_DB

ID = "6f1c1f0e-3d6b-4c47-9f1e-2f0a4c1d9b77"
P, W, A = "producer", "worker", "admin"

# (method, path, roles that may call it)
ENDPOINTS = [
    ("POST", "/tasks", {P, A}),
    ("POST", "/tasks/batch", {P, A}),
    ("POST", f"/tasks/{ID}/cancel", {P, A}),
    ("POST", "/tasks/claim", {W, A}),
    ("POST", "/tasks/claim/batch", {W, A}),
    ("POST", f"/tasks/{ID}/heartbeat", {W, A}),
    ("POST", f"/tasks/{ID}/abandon", {W, A}),
    ("POST", f"/tasks/{ID}/nack", {W, A}),
    ("POST", f"/tasks/{ID}/result", {W, A}),
    ("POST", f"/tasks/{ID}/progress", {W, A}),
    ("POST", "/tasks/batch/results", {W, A}),
    ("GET", f"/tasks/{ID}", {P, W, A}),
    ("GET", f"/tasks/{ID}/result", {P, W, A}),
    ("GET", f"/tasks/{ID}/artifacts/out.txt", {P, W, A}),
    ("GET", "/admin/queues", {A}),
    ("GET", "/admin/queues/resize", {A}),
    ("GET", "/admin/queues/resize/tasks?state=ready", {A}),
    ("POST", "/admin/queues/resize/pause", {A}),
    ("POST", "/admin/queues/resize/resume", {A}),
    ("PUT", "/admin/queues/resize/limits", {A}),
    ("POST", f"/admin/tasks/{ID}/requeue", {A}),
    ("POST", "/admin/queues/resize/dlq/requeue", {A}),
    ("DELETE", "/admin/queues/resize/dlq", {A}),
    ("DELETE", f"/admin/tasks/{ID}", {A}),
    ("POST", "/admin/tasks/cleanup", {A}),
]


@pytest.fixture
def tokens(producer_bearer, worker_bearer, admin_bearer) -> dict[str, str]:
    return {P: producer_bearer, W: worker_bearer, A: admin_bearer}


async def test_each_role_gets_403_exactly_where_the_table_forbids(http, tokens):
    for method, path, allowed in ENDPOINTS:
        for role, token in tokens.items():
            r = await http.request(method, f"/v1/codeq{path}", json={}, headers={"Authorization": f"Bearer {token}"})
            where = (method, path, role)
            if role in allowed:
                assert r.status_code != 403 or r.json()["error"] != "forbidden", (*where, r.text)
                assert r.status_code < 500, (*where, r.text)
            else:
                assert r.status_code == 403 and r.json() == {"error": "forbidden", "code": "forbidden"}, where


async def test_every_endpoint_refuses_a_missing_foreign_scheme_or_garbage_token_with_401(http):
    for method, path, _ in ENDPOINTS:
        for authorization, message in (
            (None, "missing bearer token"),
            ("Basic dXNlcjpwYXNz", "authorization scheme must be Bearer"),
            ("Bearer not-a-jwt", "invalid token"),
        ):
            headers = {"Authorization": authorization} if authorization else {}
            r = await http.request(method, f"/v1/codeq{path}", json={}, headers=headers)
            assert r.status_code == 401, (method, path, authorization)
            assert r.json()["error"] == message and r.headers["www-authenticate"].startswith("Bearer")
