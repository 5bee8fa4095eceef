"""The error pages the console's views answer with, worded once."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from codeq_platform.errors import InvalidInput


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    """400: what in the request cannot be used."""
    return render(request, "dashboard/error.html", {"title": "Bad request", "message": message}, status=400)


def bad_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    """400, in the engine's words."""
    return bad_request(request, exc.message)


def store_down(request: HttpRequest) -> HttpResponse:
    """503 for an action while the queue store does not answer: nothing was changed."""
    message = "The queue store is not answering right now; nothing was changed. Try again once it is back."
    return render(request, "dashboard/error.html", {"title": "Store unavailable", "message": message}, status=503)


def page_down(request: HttpRequest) -> HttpResponse:
    """503 for a page while the queue store does not answer (it recovers by itself)."""
    message = "The queue store is not answering right now; this page will work again once it is back."
    return render(request, "dashboard/error.html", {"title": "Store unavailable", "message": message}, status=503)
