"""The project-wide error responses: a branded page for browsers (the dashboard and Django's admin), the
API's JSON error for every other client, never a traceback or Django's debug page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from codeq_platform.api.errors import error_body, json_response, not_found, server_error

BROWSER_PREFIXES = ("/dashboard/", "/admin/")


def _for_browser(request: HttpRequest) -> bool:
    return request.path.startswith(BROWSER_PREFIXES)


def _page(request: HttpRequest, status: int) -> HttpResponse:
    return render(request, f"{status}.html", status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _for_browser(request):
        return _page(request, 400)
    return json_response(error_body("bad request", "invalid_input"), 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _for_browser(request):
        return _page(request, 403)
    return json_response(error_body("forbidden", "forbidden"), 403)


@csrf_exempt  # an unknown route's POST must get this 404, not the CSRF failure page
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, 404) if _for_browser(request) else not_found(request)


def error(request: HttpRequest) -> HttpResponse:
    # Rendered without the request's context processors: a bug may lie in one of them.
    if _for_browser(request):
        return render(None, "500.html", status=500)
    return server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A stale tab's form, or one from another session: say so and offer the way back."""
    return render(request, "403_csrf.html", status=403)
