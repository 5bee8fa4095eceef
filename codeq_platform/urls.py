"""URL routes of the platform."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView

from codeq_platform import health, metrics
from codeq_platform.api.errors import not_found
from dashboard.views import page_not_found

urlpatterns = [
    path("v1/codeq/", include("codeq_platform.api.urls")),
    path("v1/codeq", not_found),  # a JSON 404 like every unknown route, not a redirect to the prefix
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", metrics.metrics),
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboard.urls")),
    path("", RedirectView.as_view(pattern_name="dashboard:home")),
]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Browsers on the dashboard get a page; everyone else the API's JSON error."""
    return page_not_found(request) if request.path.startswith("/dashboard/") else not_found(request)


handler500 = "codeq_platform.api.errors.server_error"
