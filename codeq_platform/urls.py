"""URL routes of the platform."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from codeq_platform import health, metrics

urlpatterns = [
    path("v1/codeq/", include("codeq_platform.api.urls")),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", metrics.metrics),
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboard.urls")),
    path("", RedirectView.as_view(pattern_name="dashboard:home")),
]

handler404 = "codeq_platform.api.errors.not_found"
handler500 = "codeq_platform.api.errors.server_error"
