"""The operator's pages in Debian's Chromium: the DLQ's buttons move real tasks, and the admin's pages render.

Dead tasks are made through the API the way production makes them (one attempt, claimed, nacked), and the
replayed task is claimed back through the API, so the whole path runs: page, POST with CSRF, engine, worker.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import codeq
import pytest

from tests.browser.platform import CHROMIUM, SCREENSHOTS, browser_page, log_in

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP endpoint on 127.0.0.1 answering 204; yields its URL and the requests it got."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}/hook", got
    finally:
        http.shutdown()
        http.server_close()


def kill(server: str, producer: str, worker: str, command: str, error: str) -> str:
    """One dead task of ``command`` whose last error is ``error``; returns its id."""
    with codeq.Client(server, producer) as producing, codeq.Client(server, worker) as working:
        created = producing.create(command, {"src": "cat.jpg"}, max_attempts=1)
        claimed = working.claim([command])
        assert working.nack(claimed.id, reason=error).dead
    return created.id


def test_a_task_replayed_with_the_button_leaves_the_dlq_and_is_claimed(
    server, operator, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    task_id = kill(server, producer_bearer, worker_bearer, "img.thumb", "TimeoutError: s3 did not answer")
    other = kill(server, producer_bearer, worker_bearer, "img.thumb", "ValueError: no frames")

    with browser_page(server) as page:
        log_in(page, operator)
        page.get_by_role("link", name="DLQ").click()
        expect(page.get_by_role("link", name="img.thumb")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "dlq-index.png", full_page=True)
        page.get_by_role("link", name="img.thumb").click()

        row = page.locator(f'tr[data-task-id="{task_id}"]')
        expect(row).to_contain_text("TimeoutError: s3 did not answer")
        expect(row).to_contain_text("1/1")
        expect(page.get_by_role("button", name="Purge DLQ…")).to_have_count(0)
        page.screenshot(path=SCREENSHOTS / "dlq.png", full_page=True)

        row.get_by_role("button", name="Replay").click()
        expect(page.locator(".message")).to_have_text("Replayed 1 task to the ready queue.")
        expect(page.locator(f'tr[data-task-id="{task_id}"]')).to_have_count(0)
        expect(page.locator(f'tr[data-task-id="{other}"]')).to_have_count(1)
        page.screenshot(path=SCREENSHOTS / "dlq-after-replay.png", full_page=True)

    with codeq.Client(server, worker_bearer) as worker:
        claimed = worker.claim(["img.thumb"])
    assert (claimed.id, claimed.attempts) == (task_id, 1)


def test_replay_all_matching_shows_the_count_before_anything_moves(server, operator, producer_bearer, worker_bearer):
    from playwright.sync_api import expect

    for error in ("disk full on /var", "Disk full again", "bad input"):
        kill(server, producer_bearer, worker_bearer, "report.build", error)

    with browser_page(server) as page:
        log_in(page, operator)
        page.goto("/dashboard/t/acme/dlq/report.build/")
        page.get_by_label("Error contains").fill("disk")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("tbody tr")).to_have_count(2)
        expect(page.locator(".hint")).to_contain_text("examined 3 of the 3 in the DLQ")
        page.screenshot(path=SCREENSHOTS / "dlq-filtered.png", full_page=True)

        page.get_by_role("button", name="Replay all matching…").click()
        expect(page.get_by_test_id("confirm-count")).to_have_text("2")
        page.screenshot(path=SCREENSHOTS / "dlq-confirm-replay.png", full_page=True)
        page.go_back()
        page.get_by_role("link", name="Clear").click()
        expect(page.locator("tbody tr")).to_have_count(3)

        page.get_by_label("Error contains").fill("disk")
        page.get_by_role("button", name="Filter").click()
        page.get_by_role("button", name="Replay all matching…").click()
        page.get_by_role("button", name="Replay 2").click()
        expect(page.locator(".message")).to_have_text("Replayed 2 tasks to the ready queue.")
        page.get_by_role("link", name="Clear").click()
        expect(page.locator("tbody tr")).to_have_count(1)
        expect(page.locator("tbody tr")).to_contain_text("bad input")


def test_an_admin_purges_after_confirming_and_sees_tokens_webhooks_and_audit(
    server, admin, producer_bearer, worker_bearer
):
    from playwright.sync_api import expect

    for _ in range(2):
        kill(server, producer_bearer, worker_bearer, "mail.send", "SMTP 550 mailbox unavailable")

    with browser_page(server) as page:
        log_in(page, admin)
        page.goto("/dashboard/t/acme/dlq/mail.send/")
        page.get_by_role("button", name="Purge DLQ…").click()
        expect(page.get_by_test_id("confirm-count")).to_have_text("2")
        page.screenshot(path=SCREENSHOTS / "dlq-confirm-purge.png", full_page=True)
        page.get_by_role("button", name="Purge 2").click()
        expect(page.locator(".message")).to_have_text("Purged 2 tasks from the DLQ.")
        expect(page.get_by_text("No dead tasks here.")).to_be_visible()

        page.get_by_role("link", name="Tokens").click()
        page.get_by_label("Name").fill("resize-pool")
        page.get_by_role("button", name="Issue token").click()
        bearer = page.get_by_test_id("new-bearer").locator("code").inner_text()
        page.screenshot(path=SCREENSHOTS / "tokens.png", full_page=True)
        with codeq.Client(server, bearer) as issued:
            assert issued.claim(["mail.send"]) is None

        page.get_by_role("link", name="Webhooks").click()
        page.get_by_label("Endpoint URL").fill("https://hooks.example.com/codeq")
        page.get_by_label("task.dead").check()
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_test_id("new-secret").locator("code")).to_contain_text("whsec_")
        page.screenshot(path=SCREENSHOTS / "webhooks.png", full_page=True)
        page.get_by_role("link", name="https://hooks.example.com/codeq").click()
        expect(page.get_by_role("heading", name="Recent deliveries")).to_be_visible()

        page.get_by_role("link", name="Audit").click()
        rows = page.locator("tbody tr")
        expect(rows.first).to_contain_text("webhook.create")
        expect(page.locator("tbody")).to_contain_text("dlq.purge")
        expect(page.locator("tbody")).to_contain_text("token.issue")
        page.screenshot(path=SCREENSHOTS / "audit.png", full_page=True)


def test_a_test_event_sent_from_the_webhook_page_reaches_the_endpoint_signed(server, admin, receiver):
    from playwright.sync_api import expect

    url, got = receiver
    with browser_page(server) as page:
        log_in(page, admin)
        page.goto("/dashboard/t/acme/webhooks/")
        page.get_by_label("Endpoint URL").fill(url)
        page.get_by_label("task.completed").check()
        page.get_by_role("button", name="Subscribe").click()
        page.get_by_role("link", name=url).click()
        page.get_by_role("button", name="Send test event").click()
        expect(page.locator(".message")).to_contain_text("Queued a test event")

        deadline = time.monotonic() + 15
        while not got and time.monotonic() < deadline:
            time.sleep(0.1)
        assert got, "the test event never reached the endpoint"
        assert got[0]["body"]["type"] == "webhook.test"
        assert got[0]["headers"]["webhook-signature"].startswith("v1,")

        row = page.locator("tbody tr").first
        for _ in range(50):
            page.reload()
            if "delivered" in row.inner_text():
                break
            time.sleep(0.2)
        expect(row).to_contain_text("delivered")
        expect(row).to_contain_text("204")
        page.screenshot(path=SCREENSHOTS / "webhook.png", full_page=True)
