"""Ends a session whose user was signed out everywhere since it began."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

from tenants import selectors


class SignInMiddleware:
    """A session stamped with an older sign-in generation than its user's is flushed: the request goes on
    anonymous (a page then asks to log in)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not session_is_current(request.session, request.user.pk):
            request.session.flush()
            request.user = AnonymousUser()
        return self.get_response(request)


def session_is_current(session, user_id: int) -> bool:
    """The session began in the user's current sign-in generation."""
    return session.get(selectors.GENERATION_SESSION_KEY) == selectors.sign_in_generation(user_id=user_id)
