import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from codeq_platform.webhooks.services import new_webhook_secret
from codeq_platform.webhooks.signing import signature_headers

BODY = b'{"taskId":"t-1","status":"COMPLETED","result":{"ok":true}}'


def headers_for(secrets, body=BODY, ts=None):
    ts = ts or int(datetime.now(UTC).timestamp())
    return signature_headers(body, secrets=secrets, message_id="msg_1", timestamp=ts)


def test_standard_webhooks_library_verifies_a_delivery():
    secret = new_webhook_secret()
    assert Webhook(secret).verify(BODY, headers_for([secret])) == {
        "taskId": "t-1", "status": "COMPLETED", "result": {"ok": True},
    }  # fmt: skip


def test_codeq_receivers_verify_the_codeq_signature_with_the_secret_as_shown():
    secret = new_webhook_secret()
    headers = headers_for([secret])
    expected = hmac.new(secret.encode(), f"{headers['X-CodeQ-Timestamp']}.".encode() + BODY, hashlib.sha256)
    assert hmac.compare_digest(headers["X-CodeQ-Signature"], expected.hexdigest())


def test_during_rotation_both_the_old_and_the_new_secret_verify():
    old, new = new_webhook_secret(), new_webhook_secret()
    headers = headers_for([new, old])
    assert Webhook(new).verify(BODY, headers)
    assert Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(BODY, headers)


def test_a_changed_body_or_a_stale_timestamp_is_refused():
    secret = new_webhook_secret()
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers_for([secret]))
    stale = int(datetime.now(UTC).timestamp()) - 3600
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers_for([secret], ts=stale))
