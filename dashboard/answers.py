"""The error pages the console's action views answer with, worded once."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from codeq_platform.errors import InvalidInput


def bad_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    """400: what in the request cannot be used, in the engine's words."""
    return render(request, "dashboard/error.html", {"title": "Bad request", "message": exc.message}, status=400)


def store_down(request: HttpRequest) -> HttpResponse:
    """503 while the queue store does not answer: nothing was changed."""
    message = "The queue store is not answering right now; nothing was changed. Try again once it is back."
    return render(request, "dashboard/error.html", {"title": "Store unavailable", "message": message}, status=503)
