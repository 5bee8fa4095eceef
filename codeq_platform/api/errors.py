"""The one table from error class to HTTP status, and the one renderer of the error shape.

Shape (codeQ's, reference §1): ``{"error": "<message or machine code>"}`` plus ``code`` (stable machine
code) and, where they apply, ``field`` and ``retryAfterSeconds``. The endpoint frame and the JSON 404/500
handlers all render through here. A 503 never says more than that the store is unavailable: what failed
(addresses, errno) goes to the log.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from codeq_platform import errors
from codeq_platform.base.representations import rfc3339
from codeq_platform.engine import jsontext

log = logging.getLogger(__name__)

STATUS: dict[type[errors.CodeqError], int] = {
    errors.CodeqError: 500,
    errors.InvalidInput: 400,
    errors.PayloadTooLarge: 413,
    errors.InvalidSchedule: 422,
    errors.NotFound: 404,
    errors.NotOwner: 403,
    errors.NotInProgress: 409,
    errors.Conflict: 409,
    errors.TaskNotInDlq: 409,
    errors.TaskInProgress: 409,
    errors.TaskFinished: 409,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.TenantSuspended: 403,
    errors.QueueFull: 429,
    errors.RateLimited: 429,
    errors.QuotaExceeded: 429,
    errors.StoreUnavailable: 503,
}


STORE_UNAVAILABLE = "the store is unavailable"


def status_of(exc: errors.CodeqError) -> int:
    return STATUS[type(exc)]


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(jsontext.dumps(body), status=status, content_type="application/json", headers=headers)


def error_body(message: str, code: str, **extra: object) -> dict[str, object]:
    return {"error": message, "code": code, **{k: v for k, v in extra.items() if v is not None}}


def error_response(exc: errors.CodeqError, message: str | None = None) -> HttpResponse:
    """The response for a deliberate error; ``message`` overrides the text where the contract names one."""
    status = status_of(exc)
    headers = {}
    extra: dict[str, object] = {"field": exc.field}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
        extra.update(retryAfterSeconds=exc.retry_after, scope=exc.scope, operation=exc.operation or None)
    elif isinstance(exc, errors.QuotaExceeded):
        headers.update({"Retry-After": str(exc.retry_after), "X-Quota-Limit": str(exc.limit), "X-Quota-Remaining": "0"})
        extra.update(retryAfterSeconds=exc.retry_after, quotaLimit=exc.limit, resetsAt=rfc3339(exc.resets_at * 1000))
    elif isinstance(exc, errors.QueueFull | errors.StoreUnavailable):
        headers["Retry-After"] = "1"
        extra["retryAfterSeconds"] = 1
    if isinstance(exc, errors.StoreUnavailable):
        if exc.message != exc.code:
            log.warning("store unavailable: %s", exc.message)
        message = STORE_UNAVAILABLE
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="codeq"'
    if status >= 500 and not isinstance(exc, errors.StoreUnavailable):
        log.error("unexpected platform error", exc_info=exc)
    return json_response(error_body(message or exc.message, exc.code, **extra), status, headers)


@csrf_exempt  # an unknown route's POST must get this 404, not the CSRF middleware's HTML 403
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON 404 for every unknown route."""
    return json_response(error_body("not found", errors.NotFound.code), 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """JSON 500: a bug, never a traceback or an HTML page."""
    return json_response(error_body("internal error", "internal_error"), 500)
