import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from codeq_platform.webhooks.guard import BlockedAddress
from codeq_platform.webhooks.outbound import RESPONSE_BODY_LIMIT, deliver, loggable, new_client
from codeq_platform.webhooks.services import new_webhook_secret
from tests.webhooks.receivers import Receiver

BODY = json.dumps({"taskId": "t-1", "status": "COMPLETED", "result": {"n": 1}}).encode()


@pytest.fixture
async def client():
    async with new_client(connect_timeout=2, read_timeout=5) as pooled:
        yield pooled


async def send(client, url, *, secrets=None, allow_private=True, timeout=5.0, body=BODY):
    return await deliver(
        client, url, body, secrets or [new_webhook_secret()], message_id="msg_1", allow_private=allow_private,
        timeout=timeout,
    )  # fmt: skip


async def test_a_delivery_arrives_signed_for_both_kinds_of_receiver(client, receiver):
    secret = new_webhook_secret()
    attempt = await send(client, receiver.url(), secrets=[secret])
    assert attempt.ok and attempt.status_code == 200 and attempt.error is None
    assert attempt.response_body == '{"ok":true}'
    [request] = receiver.received
    assert request.body == BODY
    assert Webhook(secret).verify(request.body, request.headers) == json.loads(BODY)
    signed = request.headers["X-CodeQ-Timestamp"].encode() + b"." + request.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-CodeQ-Signature"], expected)
    assert abs(int(request.headers["X-CodeQ-Timestamp"]) - time.time()) < 5


async def test_during_rotation_a_receiver_with_either_secret_verifies(client, receiver):
    old, new = new_webhook_secret(), new_webhook_secret()
    await send(client, receiver.url(), secrets=[new, old])
    [request] = receiver.received
    assert Webhook(old).verify(request.body, request.headers)
    assert Webhook(new).verify(request.body, request.headers)


async def test_a_server_error_is_a_failed_attempt_with_the_answer_kept(client, receiver):
    receiver.script = [500]
    receiver.answer = b"x" * 5000
    attempt = await send(client, receiver.url())
    assert not attempt.ok and attempt.status_code == 500 and attempt.error == "HTTP 500"
    assert attempt.response_body == "x" * RESPONSE_BODY_LIMIT


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(client, receiver):
    target = Receiver()
    try:
        receiver.script = [f"redirect:{target.url('/elsewhere')}"]
        attempt = await send(client, receiver.url())
        assert not attempt.ok and attempt.status_code == 302
        assert "not followed" in attempt.error
        assert target.received == []
    finally:
        target.stop()


async def test_a_slow_receiver_times_out_within_the_attempt_budget(client, receiver):
    receiver.script = ["slow:3"]
    started = time.monotonic()
    attempt = await send(client, receiver.url(), timeout=0.5)
    assert time.monotonic() - started < 2
    assert not attempt.ok and attempt.status_code is None and "timed out" in attempt.error


async def test_a_dropped_connection_is_a_failed_attempt(client, receiver):
    receiver.script = ["close"]
    attempt = await send(client, receiver.url())
    assert not attempt.ok and attempt.status_code is None and attempt.error


async def test_nothing_listening_is_a_failed_attempt(client, receiver):
    url = receiver.url()
    receiver.stop()
    attempt = await send(client, url)
    assert not attempt.ok and attempt.status_code is None and "ConnectError" in attempt.error


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://10.0.0.1:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{port}/hook",
    ],
)
async def test_private_loopback_and_metadata_targets_are_refused_unless_allowed(client, receiver, url):
    attempt = await send(client, url.format(port=receiver.port), allow_private=False, timeout=2)
    assert not attempt.ok and attempt.status_code is None
    assert "non-public address" in attempt.error
    assert receiver.received == []


@pytest.mark.parametrize("url", ["http://example.com:99999/hook", "http://[::1/hook"])
async def test_a_url_that_cannot_be_parsed_is_a_failed_attempt_not_an_exception(client, url):
    """Result callbacks and schedules accept such URLs; the dispatcher must record the failure, not
    leave the delivery leased and unrecorded."""
    attempt = await send(client, url, allow_private=False)
    assert not attempt.ok and attempt.status_code is None
    assert attempt.error == "webhook url is not a valid http(s) URL"


async def test_a_kept_alive_connection_is_not_reused_past_the_guard(client, receiver):
    assert (await send(client, receiver.url())).ok
    refused = await send(client, receiver.url(), allow_private=False)
    assert not refused.ok and "non-public address" in refused.error
    assert len(receiver.received) == 1


async def test_the_pooled_client_refuses_private_addresses_at_connect_time_by_default(receiver):
    """Code that posts with the client directly, outside ``deliver``, is still guarded."""
    async with new_client() as pooled:
        with pytest.raises(BlockedAddress):
            await pooled.post(receiver.url(host="localhost"), content=b"{}")
    assert receiver.received == []


def test_urls_are_logged_without_credentials_or_query_string():
    assert loggable("https://user:pw@hooks.example.com:8443/in?token=s3cret") == "https://hooks.example.com:8443/in"
    assert loggable("http://[::1") == "(malformed url)"
