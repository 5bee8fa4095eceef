"""Verify what the platform signs: result callbacks, subscription events and worker wake-ups.

Every delivery carries two signatures over the exact body bytes:

- codeQ's: ``X-CodeQ-Timestamp: <unix s>`` and ``X-CodeQ-Signature: hex(HMAC-SHA256(key, "<ts>.<body>"))``,
  where the key is the secret string exactly as shown (``whsec_...``, its UTF-8 bytes);
- Standard Webhooks': ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64> ...``
  over ``"<id>.<ts>.<body>"``, keyed with the base64-decoded part of the ``whsec_`` secret. During a
  secret's rotation it lists one ``v1,`` entry per valid secret.

``verify`` accepts a delivery when either signature matches one of the secrets given and its timestamp is
within ``tolerance`` seconds of now; it compares in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """The delivery is not signed by any of the secrets, or is too old (or from the future)."""


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secrets start with whsec_")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a whsec_ secret carries base64 after its prefix") from None


def _lower(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(name).lower(): str(value) for name, value in items}


def _fresh(timestamp: str, tolerance: float, now: float) -> None:
    try:
        moment = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("invalid timestamp") from None
    if abs(now - moment) > tolerance:
        raise WebhookVerificationError("timestamp outside the tolerance")


def _codeq_ok(headers: dict[str, str], body: bytes, secrets: list[str]) -> bool | None:
    signature, timestamp = headers.get("x-codeq-signature"), headers.get("x-codeq-timestamp")
    if not signature or not timestamp:
        return None
    signed = timestamp.encode() + b"." + body
    return any(
        hmac.compare_digest(hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest(), signature.strip().lower())
        for secret in secrets
    )


def _standard_ok(headers: dict[str, str], body: bytes, secrets: list[str]) -> bool | None:
    message_id, timestamp, signatures = (
        headers.get(n) for n in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not message_id or not timestamp or not signatures:
        return None
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = [base64.b64encode(hmac.new(_key(s), signed, hashlib.sha256).digest()).decode() for s in secrets]
    offered = [entry.partition(",")[2] for entry in signatures.split() if entry.startswith("v1,")]
    return any(hmac.compare_digest(mine, theirs) for mine in expected for theirs in offered)


def verify(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes | str,
    secret: str | Iterable[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> Any:
    """Check a delivery's signature and timestamp and return its decoded JSON body.

    ``headers`` as received (any case), ``body`` the raw bytes (not re-serialised JSON), ``secret`` the
    ``whsec_...`` string, or several while rotating. Raises ``WebhookVerificationError``.
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise ValueError("at least one secret")
    raw = body.encode() if isinstance(body, str) else bytes(body)
    named = _lower(headers)
    timestamp = named.get("webhook-timestamp") or named.get("x-codeq-timestamp")
    if not timestamp:
        raise WebhookVerificationError("no signature headers")
    _fresh(timestamp, tolerance, time.time() if now is None else now)
    both = named.get("x-codeq-timestamp"), named.get("webhook-timestamp")
    if all(both) and both[0] != both[1]:
        raise WebhookVerificationError("the two timestamps differ")
    outcomes = [_standard_ok(named, raw, secrets), _codeq_ok(named, raw, secrets)]
    if not any(outcomes):
        raise WebhookVerificationError("no signature matches" if outcomes != [None, None] else "no signature headers")
    try:
        return json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
