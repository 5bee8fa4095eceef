"""``codeq.Client`` and ``codeq.AsyncClient`` against the platform running as real processes: every route,
the errors as exceptions with the server's code and status, retries on 429 and on a lost answer."""

from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import codeq
import httpx
import pytest
from codeq.client import Report
from codeq.models import ItemError, ScheduleSpec

from tests.api.calls import mint
from tests.clients.conftest import CLIENT_DB
from tests.factories import TenantFactory
from tests.webhooks.receivers import Receiver

pytestmark = CLIENT_DB


def test_a_task_goes_from_create_through_claim_progress_and_result_to_the_producer(producer, worker, command):
    created = producer.create(command, {"src": "cat.jpg"}, priority=7, max_attempts=3)
    assert (created.status, created.priority, created.max_attempts, created.payload) == (
        "PENDING",
        7,
        3,
        {"src": "cat.jpg"},
    )
    assert producer.result(created.id) is None

    held = worker.claim([command], lease_seconds=30)
    assert held.id == created.id and held.status == "IN_PROGRESS" and held.attempts == 1 and held.lease_until
    worker.heartbeat(held.id, extend_seconds=60)
    worker.progress(held.id, {"done": 50})
    assert producer.get(held.id).progress == {"done": 50}
    artifact = {"name": "thumb.txt", "contentBase64": base64.b64encode(b"tiny").decode(), "contentType": "text/plain"}
    reported = worker.complete(held.id, {"url": "s3://thumb"}, artifacts=[artifact])

    assert reported.ok and reported.result == {"url": "s3://thumb"}
    read = producer.result(held.id, wait=5)
    assert (
        read.result == {"url": "s3://thumb"} and read.task.status == "COMPLETED" and read.task.progress == {"done": 50}
    )
    assert [a.name for a in read.artifacts] == ["thumb.txt"]
    assert producer.artifact(held.id, "thumb.txt") == b"tiny"


def test_result_waits_for_a_result_reported_meanwhile(producer, worker, command):
    created = producer.create(command, 1)
    held = worker.claim([command])
    threading.Timer(1.0, worker.complete, args=(held.id, {"n": 1})).start()

    started = time.monotonic()
    read = producer.result(created.id, wait=20)

    assert read is not None and read.result == {"n": 1}
    assert time.monotonic() - started < 15


def test_a_create_repeating_its_idempotency_key_returns_the_first_task(producer, admin, command):
    first = producer.create(command, 1, idempotency_key="order-42")
    again = producer.create(command, 2, idempotency_key="order-42")

    assert again.id == first.id and again.payload == 1
    assert admin.queue(command).ready == 1


class LossyProxy:
    """A proxy to the platform that forwards the first ``drop`` requests but loses their answers (the
    connection closes unanswered), as a network failure after the server acted would."""

    def __init__(self, upstream: str, drop: int) -> None:
        self.drop = drop
        self.forwarded = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.post(upstream + self.path, content=body, headers=headers, timeout=30)
                proxy.forwarded += 1
                if proxy.forwarded <= proxy.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(answer.status_code)
                for name in ("content-type", "content-length"):
                    self.send_header(name, answer.headers[name])
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_create_whose_answer_is_lost_is_sent_again_and_makes_one_task(url, producer_bearer, admin, command):
    proxy = LossyProxy(url, drop=2)
    try:
        with codeq.Client(proxy.url, producer_bearer) as client:
            created = client.create(command, {"n": 1})
    finally:
        proxy.stop()

    assert proxy.forwarded == 3
    assert admin.queue(command).ready == 1
    assert [t.id for t in admin.queue_tasks(command, "ready").tasks] == [created.id]


def test_a_claim_whose_answer_is_lost_is_not_sent_again(url, producer, worker_bearer, command):
    producer.create(command, 1)
    proxy = LossyProxy(url, drop=1)
    try:
        with codeq.Client(proxy.url, worker_bearer) as client, pytest.raises(codeq.TransportError):
            client.claim([command])
    finally:
        proxy.stop()
    assert proxy.forwarded == 1


def test_rate_limited_requests_are_retried_after_retry_after_until_they_pass(url, db, command):
    slow = TenantFactory(slug="slowco", requests_per_second=2)
    token = mint(slow, "producer")
    impatient = codeq.Client(url, token, retry=codeq.RetryPolicy(attempts=1))
    patient = codeq.Client(url, token, retry=codeq.RetryPolicy(attempts=20))

    with pytest.raises(codeq.RateLimited) as refused:
        for n in range(20):
            impatient.create(command, n)
    assert refused.value.status == 429 and refused.value.code == "rate_limited" and refused.value.retry_after >= 1

    made = [patient.create(command, n) for n in range(6)]
    assert len({t.id for t in made}) == 6
    impatient.close()
    patient.close()


def test_a_used_up_monthly_quota_is_raised_at_once_and_the_usage_report_shows_it(url, db, command):
    capped = TenantFactory(slug="quotaco", monthly_task_quota=2)
    with codeq.Client(url, mint(capped, "producer")) as producer, codeq.Client(url, mint(capped, "admin")) as admin:
        producer.create(command, 1)
        producer.create(command, 2)
        started = time.monotonic()
        with pytest.raises(codeq.QuotaExceeded) as refused:
            producer.create(command, 3)
        # raised as it came, not after waiting out Retry-After (the quota resets next month) or a capped part
        assert time.monotonic() - started < 10
        report = admin.usage()
        narrow = admin.usage(since=date(2026, 1, 1), until="2026-01-02")

    error = refused.value
    assert (error.status, error.code) == (429, "quota_exceeded") and error.retry_after > 60
    assert (report.tenant, report.quota.limit, report.quota.used, report.quota.remaining) == ("quotaco", 2, 2, 0)
    assert report.quota.resets_at > datetime.now(UTC)
    today = report.days[-1]
    assert len(report.days) == 30 and today.day == datetime.now(UTC).date() and today.tasks_created == 2
    assert [d.day for d in narrow.days] == [date(2026, 1, 1), date(2026, 1, 2)]


def test_errors_carry_the_servers_code_status_and_field(url, producer, worker, command):
    with pytest.raises(codeq.NotFound) as missing:
        producer.get("no-such-task")
    assert (missing.value.status, missing.value.code, missing.value.message) == (404, "not-found", "not found")

    with pytest.raises(codeq.BadRequest) as invalid:
        producer.create(command, 1, priority=12)
    assert invalid.value.status == 400 and invalid.value.field == "priority"

    with pytest.raises(codeq.Forbidden) as denied:
        producer.claim([command])
    assert denied.value.status == 403

    with codeq.Client(url, "not-a-token") as stranger, pytest.raises(codeq.Unauthorized):
        stranger.get("x")

    created = producer.create(command, 1)
    with pytest.raises(codeq.NotOwner) as not_owner:
        worker.heartbeat(created.id)
    assert not_owner.value.code == "not-owner"
    with pytest.raises(codeq.Conflict) as conflict:
        worker.complete(created.id, {})
    assert conflict.value.status == 409 and conflict.value.code == "not-in-progress"


def test_batches_answer_per_item(producer, worker, command):
    outcomes = producer.create_batch([{"command": command, "payload": n} for n in range(3)] +
                                     [{"command": "no spaces allowed", "payload": 1}])  # fmt: skip
    assert [type(o).__name__ for o in outcomes] == ["Task", "Task", "Task", "ItemError"]
    assert outcomes[3].message == "invalid command"

    held = worker.claim_batch(10, [command])
    assert sorted(t.payload for t in held) == [0, 1, 2]
    reported = worker.report_batch([Report(held[0].id, result={"ok": 1}), Report(held[1].id, "FAILED", error="bad"),
                                    Report("no-such-task")])  # fmt: skip
    assert reported[0].status == "COMPLETED" and reported[1].status == "FAILED"
    assert isinstance(reported[2], ItemError) and reported[2].task_id == "no-such-task"
    assert producer.result(held[1].id).error == "bad"


def test_abandon_nack_fail_and_cancel_end_a_task_as_the_contract_says(producer, worker, admin, command):
    first = producer.create(command, 1, max_attempts=1)
    worker.claim([command])
    worker.abandon(first.id)
    assert (producer.get(first.id).status, producer.get(first.id).attempts) == ("PENDING", 0)

    worker.claim([command])
    assert worker.nack(first.id, reason="out of paper").dead
    assert producer.get(first.id).error == "out of paper"

    second = producer.create(command, 2)
    worker.claim([command])
    nacked = worker.nack(second.id, delay_seconds=120, reason="later")
    assert not nacked.dead and nacked.delay_seconds == 120
    assert producer.get(second.id).run_at is not None

    third = producer.create(command, 3)
    worker.claim([command])
    assert worker.fail(third.id, "unreadable").status == "FAILED"

    fourth = producer.create(command, 4, delay_seconds=600)
    assert producer.cancel(fourth.id).error == "CANCELLED"
    assert admin.queue(command).dlq == 1


def test_a_long_poll_claim_returns_a_task_created_while_it_waits(producer, worker, command):
    threading.Timer(1.0, producer.create, args=(command, {"late": True})).start()
    held = worker.claim([command], wait=20)
    assert held is not None and held.payload == {"late": True}
    assert worker.claim_batch(5, [command], wait=1) == []


def test_admins_read_queues_and_work_the_dlq(producer, worker, admin, command):
    dead = []
    for n in range(3):
        task = producer.create(command, n, max_attempts=1)
        worker.claim([command])
        worker.nack(task.id, reason=f"boom {n}")
        dead.append(task.id)
    producer.create(command, "ready one")

    counts = admin.queues()[command]
    assert (counts.ready, counts.dlq, counts.in_progress) == (1, 3, 0)
    stats = admin.queue(command)
    assert (stats.ready, stats.dlq) == (1, 3)
    page = admin.dlq(command, limit=2)
    assert len(page.tasks) == 2 and page.next_cursor
    rest = admin.dlq(command, limit=2, cursor=page.next_cursor)
    assert {t.id for t in page.tasks + rest.tasks} == set(dead)

    assert admin.requeue(dead[0]).status == "PENDING"
    with pytest.raises(codeq.Conflict):
        admin.requeue(dead[0])
    moved = admin.requeue_dlq(command, limit=1)
    assert (moved.count, moved.remaining) == (1, True)
    purged = admin.purge_dlq(command)
    assert (purged.count, purged.remaining) == (1, False)
    assert admin.queue(command).dlq == 0

    ready = admin.queue_tasks(command, "ready").tasks
    admin.delete_task(ready[0].id)
    with pytest.raises(codeq.NotFound):
        producer.get(ready[0].id)

    done = producer.create(command, "done")
    while (held := worker.claim([command])).id != done.id:
        worker.complete(held.id, {})
    worker.complete(done.id, {})
    assert admin.cleanup(limit=1000).deleted == 0  # within its retention (24 h)
    assert admin.cleanup(before=datetime.now(UTC) + timedelta(days=1, seconds=1), limit=1000).deleted >= 1
    with pytest.raises(codeq.NotFound):
        producer.get(done.id)


def test_schedules_are_put_read_and_deleted(admin, command):
    spec = ScheduleSpec(cron="*/5 * * * *", command=command, payload={"report": "daily"}, timezone="Europe/Paris")
    put = admin.put_schedule("nightly-report", spec)
    assert put.spec == ScheduleSpec(cron="*/5 * * * *", command=command, payload={"report": "daily"},
                                    timezone="Europe/Paris")  # fmt: skip
    assert put.version == 1 and put.next_run_at is not None
    assert admin.put_schedule("nightly-report", {**spec.to_json(), "paused": True}).next_run_at is None
    assert [s.name for s in admin.schedules()] == ["nightly-report"]
    assert admin.schedule("nightly-report").version == 2

    with pytest.raises(codeq.InvalidSchedule) as invalid:
        admin.put_schedule("broken", ScheduleSpec(cron="not a rule", command=command))
    assert invalid.value.status == 422 and invalid.value.field == "cron"

    admin.delete_schedule("nightly-report")
    with pytest.raises(codeq.NotFound):
        admin.schedule("nightly-report")


def test_tokens_are_issued_listed_and_revoked(url, admin, command):
    issued = admin.issue_token("resize-pool", "producer", expires_in_days=30)
    assert issued.token and issued.role == "producer" and issued.expires_at is not None
    assert "resize-pool" in [t.name for t in admin.tokens()]
    with codeq.Client(url, issued.token) as fresh:
        assert fresh.create(command, 1).status == "PENDING"

    assert admin.revoke_token(issued.id).revoked_at is not None
    assert next(t for t in admin.tokens() if t.id == issued.id).revoked_at is not None


def test_webhook_subscriptions_and_their_deliveries(admin, producer, worker, command):
    receiver = Receiver()
    try:
        sub = admin.create_webhook(receiver.url(), ["task.completed"], commands=[command])
        assert sub.secret.startswith("whsec_") and sub.active
        assert [w.id for w in admin.webhooks()] == [sub.id]
        assert admin.webhook(sub.id).commands == [command]

        created = producer.create(command, 1)
        worker.claim([command])
        worker.complete(created.id, {"ok": True})
        receiver.wait_for(1, timeout=30)
        delivery = _delivered(admin, sub.id)
        assert delivery.task_id == created.id and delivery.attempt_log[0].status_code == 200
        assert admin.delivery(delivery.id).id == delivery.id
        assert admin.redeliver(delivery.id).delivery_id == delivery.id
        assert admin.test_webhook(sub.id).status in ("pending", "delivered")
        receiver.wait_for(3, timeout=30)

        rotated = admin.rotate_webhook_secret(sub.id, grace_seconds=60)
        assert rotated.secret.startswith("whsec_") and rotated.previous_secret_expires_at is not None
        assert admin.update_webhook(sub.id, active=False).active is False
        admin.delete_webhook(sub.id)
        assert admin.webhooks() == []
    finally:
        receiver.stop()


def _delivered(admin, subscription_id):
    deadline = time.monotonic() + 30
    while True:
        page = admin.deliveries(subscription_id)
        if page.deliveries and page.deliveries[0].status == "delivered":
            return page.deliveries[0]
        assert time.monotonic() < deadline, page
        time.sleep(0.2)


def test_worker_subscriptions_are_made_renewed_listed_and_removed(admin, worker, command):
    made = worker.subscribe("http://127.0.0.1:9/wake", event_types=[command], ttl_seconds=60,
                            delivery_mode="group", group_id="pool-a", min_interval_seconds=2)  # fmt: skip
    renewed = worker.renew_subscription(made.subscription_id, ttl_seconds=600)
    assert renewed.expires_at > made.expires_at
    [listed] = admin.worker_subscriptions()
    assert (listed.subscription_id, listed.event_types, listed.group_id) == (made.subscription_id, [command], "pool-a")
    worker.unsubscribe(made.subscription_id)
    assert admin.worker_subscriptions() == []
    with pytest.raises(codeq.NotFound):
        worker.renew_subscription(made.subscription_id)


def test_the_signing_secret_rotates(admin):
    first = admin.rotate_signing_secret(grace_seconds=0)
    second = admin.rotate_signing_secret()
    assert first.secret != second.secret and second.secret.startswith("whsec_")


async def test_the_async_client_runs_the_same_routes(url, producer_bearer, worker_bearer, command):
    async with codeq.AsyncClient(url, producer_bearer) as producer, codeq.AsyncClient(url, worker_bearer) as worker:
        created = await producer.create(command, {"n": 1})
        held = await worker.claim([command], wait=5)
        await worker.heartbeat(held.id)
        await worker.progress(held.id, 0.5)
        await worker.complete(held.id, {"n": 2})
        read = await producer.result(created.id, wait=5)
        assert read.result == {"n": 2} and read.task.progress == 0.5
        assert await producer.result((await producer.create(command, 2)).id) is None
        with pytest.raises(codeq.NotFound):
            await producer.get("no-such-task")


def test_admins_pause_resume_and_cap_a_queue(producer, worker, admin, command):
    producer.create(command, 1)
    producer.create(command, 2)

    settings = admin.pause_queue(command)
    assert (settings.command, settings.paused, settings.max_in_flight) == (command, True, None)
    assert worker.claim([command]) is None
    assert admin.queues()[command].paused and admin.queue(command).paused

    assert admin.resume_queue(command).paused is False
    assert admin.set_queue_limits(command, max_in_flight=1).max_in_flight == 1
    assert admin.queues()[command].max_in_flight == 1
    held = worker.claim([command])
    assert held is not None and worker.claim([command]) is None
    assert admin.set_queue_limits(command, max_in_flight=None).max_in_flight is None
    assert worker.claim([command]) is not None
    with pytest.raises(codeq.BadRequest):
        admin.set_queue_limits(command, max_in_flight=0)
