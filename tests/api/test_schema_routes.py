"""Every route of the URL map is in the OpenAPI document, and the statuses the frame answers are documented
where it answers them: no token (401), a role that may not call it (403), a body that is not JSON (400) or
too large (413). The fuzz check (test_fuzz.py) holds every other answer to the document."""

from __future__ import annotations

import asyncio
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.api.calls import API_DB
from tests.api.conftest import bearer

pytestmark = API_DB

PREFIX = "/v1/codeq/"
SAMPLES = {"str": "x1", "int": "1", "uuid": "00000000-0000-4000-8000-000000000000"}


def _routes(patterns, prefix: str = ""):
    """(document path, a URL of it, methods) of every async endpoint under the prefix."""
    for entry in patterns:
        route = getattr(entry.pattern, "_route", None)
        if route is None:
            continue
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern) and asyncio.iscoroutinefunction(entry.callback):
            full = "/" + prefix + route
            if not full.startswith(PREFIX):
                continue  # the probes and metrics outside the API
            template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", full)
            url = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], full)
            yield (
                template,
                url,
                {m for m in ("get", "post", "put", "patch", "delete") if hasattr(entry.callback.cls, m)},
            )


def api_routes() -> dict[str, set[str]]:
    return {template: methods for template, _, methods in _routes(get_resolver().url_patterns)}


@pytest.fixture
async def spec(http) -> dict:
    r = await http.get("/v1/codeq/openapi.json")
    assert r.status_code == 200
    return r.json()


async def test_the_document_has_every_route_of_the_url_map_and_no_other(spec):
    routes = api_routes()
    documented = {path: {m for m in item if m in ("get", "post", "put", "patch", "delete")}
                  for path, item in spec["paths"].items()}  # fmt: skip

    assert len(routes) > 30
    assert documented == routes


async def test_statuses_the_frame_answers_are_documented(http, spec, producer_bearer, settings):
    settings.CODEQ_MAX_BODY_BYTES = 10_000
    for template, url, methods in _routes(get_resolver().url_patterns):
        for method in methods:
            documented = spec["paths"][template][method]["responses"]
            anonymous = await http.request(method.upper(), url)
            assert anonymous.status_code == 401 and "401" in documented, (method, template)
            if "/admin/" in template:
                refused = await http.request(method.upper(), url, headers=bearer(producer_bearer))
                assert refused.status_code == 403 and "403" in documented, (method, template)
            if "requestBody" in spec["paths"][template][method]:
                assert "400" in documented, (method, template)
            too_large = await http.request(method.upper(), url, content=b" " * 10_001)
            assert too_large.status_code == 413 and "413" in documented, (method, template)
