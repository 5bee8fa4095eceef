"""URL routes of the platform."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from codeq_platform.api import health, metrics
from codeq_platform.api.errors import not_found

urlpatterns = [
    path("v1/codeq/", include("codeq_platform.api.urls")),
    path("v1/codeq", not_found),  # a JSON 404 like every unknown route, not a redirect to the prefix
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", metrics.metrics),
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboard.urls")),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("", RedirectView.as_view(pattern_name="dashboard:home")),
]


handler400 = "codeq_platform.pages.bad_request"
handler403 = "codeq_platform.pages.permission_denied"
handler404 = "codeq_platform.pages.page_not_found"
handler500 = "codeq_platform.pages.error"
