"""Websocket routes of the dashboard (served through Channels by ``codeq_platform.asgi``)."""

from django.urls import path

from dashboard.consumers import LeasesConsumer, StatsConsumer, TaskConsumer

websocket_urlpatterns = [
    path("dashboard/ws/t/<slug:tenant>/stats/", StatsConsumer.as_asgi()),
    path("dashboard/ws/t/<slug:tenant>/tasks/<str:task_id>/", TaskConsumer.as_asgi()),
    path("dashboard/ws/t/<slug:tenant>/leases/", LeasesConsumer.as_asgi()),
]
