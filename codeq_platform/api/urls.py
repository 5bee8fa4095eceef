"""Routes under ``/v1/codeq/``."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from codeq_platform.api import (
    admin_views,
    schedules,
    selfservice,
    usage_views,
    views,
    webhook_deliveries,
    worker_subscriptions,
)
from codeq_platform.api.endpoint import by_method
from codeq_platform.api.errors import not_found

urlpatterns = [
    path("tasks", views.create_task),
    path("tasks/batch", views.create_batch),
    path("tasks/claim", views.claim),
    path("tasks/claim/batch", views.claim_batch),
    path("tasks/batch/results", views.result_batch),
    path("tasks/<str:task_id>", views.get_task),
    path("tasks/<str:task_id>/heartbeat", views.heartbeat),
    path("tasks/<str:task_id>/abandon", views.abandon),
    path("tasks/<str:task_id>/nack", views.nack),
    path("tasks/<str:task_id>/result", by_method(GET=views.get_result, POST=views.result)),
    path("tasks/<str:task_id>/progress", views.progress),
    path("tasks/<str:task_id>/cancel", views.cancel),
    path("tasks/<str:task_id>/artifacts/<str:artifact>", views.get_artifact),
    path("workers/subscriptions", worker_subscriptions.subscribe),
    path("workers/subscriptions/<str:subscription_id>", worker_subscriptions.unsubscribe),
    path("workers/subscriptions/<str:subscription_id>/heartbeat", worker_subscriptions.heartbeat),
    path("admin/workers/subscriptions", worker_subscriptions.listing),
    path("admin/queues", admin_views.queues),
    path("admin/queues/<str:command>", admin_views.queue_detail),
    path("admin/queues/<str:command>/tasks", admin_views.queue_tasks),
    path("admin/queues/<str:command>/pause", admin_views.pause_queue),
    path("admin/queues/<str:command>/resume", admin_views.resume_queue),
    path("admin/queues/<str:command>/limits", admin_views.queue_limits),
    path("admin/queues/<str:command>/dlq", admin_views.purge_dlq),
    path("admin/queues/<str:command>/dlq/requeue", admin_views.requeue_command),
    path("admin/tasks/cleanup", admin_views.cleanup),
    path("admin/tasks/<str:task_id>", admin_views.delete_task),
    path("admin/tasks/<str:task_id>/requeue", admin_views.requeue),
    path("admin/usage", usage_views.usage_report),
    path("admin/schedules", schedules.list_schedules),
    path("admin/schedules/<str:name>", schedules.schedule),
    path("admin/tokens", selfservice.tokens),
    path("admin/tokens/<int:token_id>", selfservice.revoke_token),
    path("admin/webhooks", selfservice.webhooks),
    path("admin/webhooks/<int:subscription_id>", selfservice.webhook),
    path("admin/webhooks/<int:subscription_id>/rotate", selfservice.rotate_webhook),
    path("admin/webhooks/<int:subscription_id>/deliveries", webhook_deliveries.subscription_deliveries),
    path("admin/webhooks/<int:subscription_id>/test", webhook_deliveries.subscription_test),
    path("admin/webhooks/deliveries/<uuid:delivery_id>", webhook_deliveries.delivery_detail),
    path("admin/webhooks/deliveries/<uuid:delivery_id>/redeliver", webhook_deliveries.delivery_redeliver),
    path("admin/webhooks/signing-secret/rotate", webhook_deliveries.signing_secret_rotate),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="swagger-ui"),
    re_path(r".*", not_found),
]
