"""The task ids an operator's action names, as the DLQ and queue pages share them.

A confirmation of "all that match" carries its ids in a signed token (``sign`` / ``unsign``): valid for
``CONFIRM_MAX_AGE`` and only under the salt it was made with (each page salts it with the tenant, the
command, the user and what the action is), so a token cannot be forged, replayed elsewhere or kept
for later. Ids posted by hand go through ``check_ids``. An action names at most ``MAX_ACTION`` tasks.
"""

from __future__ import annotations

from django.core import signing

from codeq_platform.engine.core import TASK_ID_RE
from codeq_platform.errors import InvalidInput

MAX_ACTION = 1_000
CONFIRM_MAX_AGE = 15 * 60


def sign(task_ids: list[str], salt: str) -> str:
    """A tamper-proof token of the ids a confirmation showed."""
    return signing.dumps(task_ids, salt=salt, compress=True)


def unsign(token: str, salt: str) -> list[str]:
    """The ids of a confirmation token; InvalidInput when it is forged, made under another salt or stale."""
    try:
        ids = signing.loads(token, salt=salt, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:
        raise InvalidInput("this confirmation has expired or is not valid; start again", field="token") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidInput("this confirmation is not valid; start again", field="token")
    return ids


def check_ids(task_ids: list[str]) -> list[str]:
    """The distinct ids of a selection; InvalidInput for none, too many, or one that is not an id."""
    ids = list(dict.fromkeys(task_ids))
    if not ids:
        raise InvalidInput("select at least one task", field="task_ids")
    if len(ids) > MAX_ACTION:
        raise InvalidInput(f"at most {MAX_ACTION} tasks at a time", field="task_ids")
    if not all(isinstance(i, str) and TASK_ID_RE.match(i) for i in ids):
        raise InvalidInput("that is not a task id", field="task_ids")
    return ids
