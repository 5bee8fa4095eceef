"""Signatures of a webhook delivery, computed over the exact bytes sent.

Every delivery carries two signatures so both kinds of receiver verify it:

- codeQ's (reference §8): ``X-CodeQ-Timestamp: <unix s>`` and
  ``X-CodeQ-Signature: hex(HMAC-SHA256(secret, "<ts>.<body>"))``, signed with the current secret.
  The key is the secret string exactly as shown (``whsec_...``), as a codeQ receiver configured with
  it uses it: codeQ's receivers take the secret as an opaque string;
- Standard Webhooks': ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64>``
  over ``"<id>.<ts>.<body>"``, one ``v1,`` entry per valid secret, so during a rotation's grace
  period a receiver holding either the old or the new secret accepts it.

Secrets are ``whsec_<base64 key>``, the Standard Webhooks format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def key_of(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secrets start with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX) :])


def signature_headers(body: bytes, *, secrets: list[str], message_id: str, timestamp: int) -> dict[str, str]:
    """The headers that sign ``body``; ``secrets`` is the current secret first, then any previous one
    still inside its grace period."""
    if not secrets:
        raise ValueError("at least one secret signs a delivery")
    ts = str(timestamp)
    codeq = hmac.new(secrets[0].encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    signed = message_id.encode() + b"." + ts.encode() + b"." + body
    standard = " ".join(
        "v1," + base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()
        for secret in secrets
    )
    return {
        "X-CodeQ-Timestamp": ts,
        "X-CodeQ-Signature": codeq,
        "webhook-id": message_id,
        "webhook-timestamp": ts,
        "webhook-signature": standard,
    }
