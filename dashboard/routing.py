"""Websocket routes of the dashboard (served through Channels by ``codeq_platform.asgi``)."""

from django.urls import path

from dashboard.consumers import StatsConsumer

websocket_urlpatterns = [
    path("dashboard/ws/t/<slug:tenant>/stats/", StatsConsumer.as_asgi()),
]
