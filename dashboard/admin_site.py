"""The Django admin behind the console's sign-in: one login form, with its throttle and second factor."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse


class ConsoleAdminSite(admin.AdminSite):
    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """The console's login page, coming back to the admin page asked for."""
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"), reverse("dashboard:login"))
