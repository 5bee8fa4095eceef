"""``codeq.webhooks.verify`` on what the platform really sends: a result callback signed with the tenant's
secret and a subscription event signed with the subscription's, each scheme on its own, a rotation, and
deliveries that were tampered with or are too old."""

from __future__ import annotations

import pytest
from codeq.webhooks import WebhookVerificationError, verify

from tests.clients.conftest import CLIENT_DB
from tests.webhooks.receivers import Receiver

pytestmark = CLIENT_DB

CODEQ_HEADERS = ("x-codeq-timestamp", "x-codeq-signature")
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def only(headers: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() in names}


def callback(producer, worker, receiver, command):
    """The result callback of a task completed by ``worker``, as the receiver got it."""
    task = producer.create(command, {"n": 1}, webhook=receiver.url())
    worker.claim([command])
    worker.complete(task.id, {"ok": True})
    [delivery] = receiver.wait_for(1, timeout=30)
    return task, delivery


def test_a_result_callback_verifies_with_the_tenants_secret_under_each_scheme(producer, worker, admin, receiver,
                                                                               command):  # fmt: skip
    secret = admin.rotate_signing_secret(grace_seconds=0).secret
    task, delivery = callback(producer, worker, receiver, command)

    body = verify(delivery.headers, delivery.body, secret)
    assert body["taskId"] == task.id and body["status"] == "COMPLETED" and body["result"] == {"ok": True}
    assert verify(only(delivery.headers, CODEQ_HEADERS), delivery.body, secret)["taskId"] == task.id
    assert verify(only(delivery.headers, STANDARD_HEADERS), delivery.body, secret)["taskId"] == task.id


def test_a_delivery_tampered_with_old_or_signed_with_another_secret_is_refused(producer, worker, admin, receiver,
                                                                               command):  # fmt: skip
    secret = admin.rotate_signing_secret(grace_seconds=0).secret
    _, delivery = callback(producer, worker, receiver, command)
    sent_at = int(delivery.headers["webhook-timestamp"])

    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(delivery.headers, delivery.body.replace(b"true", b"false"), secret)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(delivery.headers, delivery.body, secret, now=sent_at + 301)
    assert verify(delivery.headers, delivery.body, secret, now=sent_at + 299)
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(delivery.headers, delivery.body, "whsec_" + "QUJD" * 8)
    with pytest.raises(WebhookVerificationError, match="no signature headers"):
        verify({"content-type": "application/json"}, delivery.body, secret)


def test_during_a_rotation_the_old_secret_still_verifies_the_standard_signature(producer, worker, admin, receiver,
                                                                                command):  # fmt: skip
    old = admin.rotate_signing_secret(grace_seconds=0).secret
    new = admin.rotate_signing_secret(grace_seconds=3600).secret
    _, delivery = callback(producer, worker, receiver, command)

    assert verify(delivery.headers, delivery.body, new)
    assert verify(only(delivery.headers, STANDARD_HEADERS), delivery.body, old)
    assert verify(delivery.headers, delivery.body, [old, new])


def test_a_subscription_event_verifies_with_the_subscriptions_own_secret(producer, worker, admin, receiver, command):
    subscription = admin.create_webhook(receiver.url(), ["task.failed"], commands=[command])
    task = producer.create(command, 1)
    worker.claim([command])
    worker.fail(task.id, "broken")
    [delivery] = receiver.wait_for(1, timeout=30)

    event = verify(delivery.headers, delivery.body, subscription.secret)
    assert event["type"] == "task.failed" and event["data"]["taskId"] == task.id
