"""Every console page answers a garbled query string with a 4xx page that says what was wrong, never a 500:
a link pasted with a typo, an old bookmark or a hand-edited cursor must not look like a broken server."""

from __future__ import annotations

import pytest

from codeq_platform.engine import NewTask
from tests.dashboard.dead import kill
from tests.dashboard.forms import login_as

CMD = "media.resize"

PAGES = ["", "queues/", f"queues/{CMD}/", "metrics/", "workers/", "leases/", "dlq/", f"dlq/{CMD}/", "tasks/",
         "schedules/", "subscriptions/", "webhooks/", "tokens/", "members/", "usage/", "usage/csv/",
         "audit/"]  # fmt: skip
GARBAGE = ["state=nope", "cursor=garbage", "cursor=-1", "cursor=99999999999999999999999", "window=x",
           "page=x", "page=-3", "page=99999", "from=x", "to=2026-13-40", "command=%00", "part=x", "error=%ff",
           "id=%00", f"command={CMD}&cursor=garbage", f"command={CMD}&state=nope"]  # fmt: skip
# A value the page reads and cannot use: the page says so with a 400.
REFUSED = [(f"queues/{CMD}/", "state=nope"), (f"queues/{CMD}/", "cursor=garbage"), ("leases/", "cursor=garbage"),
           (f"dlq/{CMD}/", "cursor=garbage"), ("metrics/", "window=x"), ("tasks/", "state=nope"),
           ("tasks/", f"command={CMD}&cursor=garbage"), ("usage/", "from=x"),
           ("usage/csv/", "to=2026-13-40")]  # fmt: skip


@pytest.mark.parametrize("page", PAGES)
def test_a_garbled_query_string_is_never_a_500(tenant, queues, page):
    kill(tenant, command=CMD)
    queues.enqueue("acme", NewTask(CMD, {"n": 1}))
    client = login_as(tenant, "admin")
    for query in GARBAGE:
        answer = client.get(f"/dashboard/t/{tenant.slug}/{page}?{query}")
        assert answer.status_code < 500, (page, query, answer.status_code)


def test_a_value_a_page_cannot_use_is_a_400_page_that_names_it(tenant, queues):
    queues.enqueue("acme", NewTask(CMD, {"n": 1}))
    client = login_as(tenant, "viewer")
    for page, query in REFUSED:
        answer = client.get(f"/dashboard/t/{tenant.slug}/{page}?{query}")
        assert answer.status_code == 400, (page, query, answer.status_code)
        if page != "usage/csv/":
            assert b'aria-label="Sections"' in answer.content, (page, query)  # still the console, with its menu
