"""The dashboard's routes, mounted at ``/dashboard/``.

Every tenant page lives under ``t/<tenant>/`` and is named for its navigation section, so the base
template can mark the current one: ``overview``, ``queues`` (a command's queue at
``t/<tenant>/queues/<command>/?state=ready``), ``leases``, ``tasks`` (search) and ``task`` (its buttons
post to ``task_action``), and the pages of the metrics, workers, DLQ, schedules, worker subscriptions,
webhooks, tokens, members, usage and audit sections (``metrics``, ``workers``, ``dlq``, ``schedules``,
``subscriptions``, ``webhooks``, ``tokens``, ``members``, ``usage``, ``audit``, at ``t/<tenant>/dlq/``
and so on). The overview's Pause/Resume buttons post to ``t/<tenant>/queues/<command>/pause/`` and
``.../resume/``, its cap form to ``.../cap/``. An invitation's link opens ``invitations/<token>/``; sign-up (404 unless
``CODEQ_SIGNUP=open``) is ``signup/``.
"""

from django.contrib.auth import views as auth_views
from django.urls import path

from dashboard import (
    admin_views,
    audit_views,
    dlq_views,
    member_views,
    metrics_views,
    queue_views,
    schedule_views,
    security_views,
    signin,
    signup_views,
    staff_views,
    subscription_views,
    twofactor_views,
    usage_views,
    views,
)

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", signin.SignInView.as_view(), name="login"),
    path("signup/", signup_views.signup_page, name="signup"),
    path("signup/confirm/<str:token>/", signup_views.signup_confirm, name="signup_confirm"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("switch/", views.switch, name="switch"),
    path("access/", security_views.access_log, name="access-log"),
    path("access/unlock/", security_views.unlock, name="unlock"),
    path("access/sign-out/", security_views.sign_out_user, name="sign-out-user"),
    path("account/", security_views.account, name="account"),
    path("account/sign-out-everywhere/", security_views.sign_out_everywhere, name="sign-out-everywhere"),
    path("account/2fa/setup/", twofactor_views.setup, name="2fa-setup"),
    path("account/2fa/recovery-codes/", twofactor_views.recovery_codes, name="2fa-recovery-codes"),
    path("account/2fa/remove/", twofactor_views.remove, name="2fa-remove"),
    path("2fa/", twofactor_views.verify, name="2fa-verify"),
    path("t/<slug:tenant>/", views.overview, name="overview"),
    path("t/<slug:tenant>/queues/", queue_views.index, name="queues"),
    path("t/<slug:tenant>/queues/<str:command>/", queue_views.command_page, name="queues"),
    path(
        "t/<slug:tenant>/queues/<str:command>/pause/",
        queue_views.queue_control,
        {"action": "pause"},
        name="queue_pause",
    ),
    path(
        "t/<slug:tenant>/queues/<str:command>/resume/",
        queue_views.queue_control,
        {"action": "resume"},
        name="queue_resume",
    ),
    path("t/<slug:tenant>/queues/<str:command>/cap/", queue_views.queue_control, {"action": "cap"}, name="queue_cap"),
    path("t/<slug:tenant>/leases/", views.leases, name="leases"),
    path("t/<slug:tenant>/tasks/", views.task_search, name="tasks"),
    path("t/<slug:tenant>/tasks/<str:task_id>/", views.task, name="task"),
    path("t/<slug:tenant>/tasks/<str:task_id>/act/", queue_views.task_action, name="task_action"),
    path("t/<slug:tenant>/dlq/", dlq_views.index, name="dlq"),
    path("t/<slug:tenant>/dlq/<str:command>/", dlq_views.command_page, name="dlq"),
    path("t/<slug:tenant>/dlq/<str:command>/<str:task_id>/edit/", dlq_views.edit_payload, name="dlq"),
    path("t/<slug:tenant>/tokens/", admin_views.tokens, name="tokens"),
    path("t/<slug:tenant>/schedules/", schedule_views.schedules_page, name="schedules"),
    path("t/<slug:tenant>/schedules/<str:name>/", schedule_views.schedule_page, name="schedules"),
    path("t/<slug:tenant>/subscriptions/", subscription_views.subscriptions_page, name="subscriptions"),
    path(
        "t/<slug:tenant>/subscriptions/<str:subscription_id>/remove/",
        subscription_views.remove,
        name="subscription_remove",
    ),
    path("t/<slug:tenant>/webhooks/", admin_views.webhooks, name="webhooks"),
    path("t/<slug:tenant>/webhooks/<int:subscription_id>/", admin_views.webhook, name="webhooks"),
    path("t/<slug:tenant>/audit/", audit_views.audit, name="audit"),
    path("t/<slug:tenant>/members/", member_views.members_page, name="members"),
    path("t/<slug:tenant>/usage/", usage_views.usage_page, name="usage"),
    path("t/<slug:tenant>/usage/csv/", usage_views.usage_csv, name="usage"),
    path("t/<slug:tenant>/metrics/", metrics_views.metrics_page, name="metrics"),
    path("t/<slug:tenant>/workers/", metrics_views.workers_page, name="workers"),
    path("invitations/<str:token>/", member_views.invitation, name="invitation"),
    path("staff/tenants/", staff_views.tenants, name="staff_tenants"),
    path("staff/tenants/new/", staff_views.new_tenant, name="staff_new_tenant"),
    path("staff/tenants/<slug:slug>/", staff_views.tenant, name="staff_tenant"),
]
