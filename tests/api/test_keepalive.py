"""A body over the size limit on a keep-alive connection, against real servers: the 413 comes back and the
next request on that connection is served (the rest of the large body is read and dropped)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.live import live_server

pytestmark = pytest.mark.django_db(transaction=True, available_apps=["django.contrib.contenttypes",
                                                                      "django.contrib.auth", "tenants"])  # fmt: skip

LIMIT = 100_000


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def server(request, django_db_setup, django_db_blocker) -> Iterator[str]:
    with live_server(django_db_blocker, request.param, CODEQ_MAX_BODY_BYTES=str(LIMIT)) as base:
        yield base


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response read off ``sock`` (Content-Length framed, as the platform answers)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def test_the_next_request_on_the_connection_is_served_after_an_early_413(server):
    parts = urlsplit(server)
    body = b"x" * (LIMIT * 3)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        for _ in range(10):
            sock.sendall(b"POST /v1/codeq/tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
            status, headers, answer = _response(sock)
            assert status == 413 and b"payload_too_large" in answer
            assert headers.get("connection", "").lower() != "close"
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            status, _, answer = _response(sock)
            assert status == 200 and b"ok" in answer


def test_a_keep_alive_client_sees_every_413_and_every_next_answer(server):
    with httpx.Client(base_url=server, timeout=30, limits=httpx.Limits(max_connections=1)) as client:
        for _ in range(10):
            too_large = client.post("/v1/codeq/tasks", content=b"[" * (LIMIT + 1))
            assert too_large.status_code == 413
            assert client.get("/healthz").status_code == 200
