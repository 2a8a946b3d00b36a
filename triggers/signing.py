"""Webhook signatures: `X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The MAC covers `f"{t}.{raw body}"` with the webhook's secret, so a captured request can't be
replayed after TOLERANCE_SECONDS nor its body changed. The secret is derived, not stored:
HMAC(SECRET_KEY, "switchboard-webhook:<public id>:<salt>"); a new salt makes a new secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings

HEADER = "X-Switchboard-Signature"
TOLERANCE_SECONDS = 300


def webhook_secret(public_id: str, salt: str) -> str:
    message = f"switchboard-webhook:{public_id}:{salt}".encode()
    return "whsec_" + hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value a sender puts on `body` (used by tests and documented for senders)."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


class BadSignature(Exception):
    pass


def verify(secret: str, body: bytes, header: str | None, *, now: float | None = None) -> None:
    """Raise BadSignature with a reason unless `header` signs `body` with `secret`, recently."""
    if not header:
        raise BadSignature(f"The {HEADER} header is missing.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        ts = int(parts["t"][0])
    except (KeyError, ValueError):
        raise BadSignature("The signature has no valid timestamp (t=…).") from None
    now = time.time() if now is None else now
    if abs(now - ts) > TOLERANCE_SECONDS:
        raise BadSignature("The signature's timestamp is too old or in the future.")
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise BadSignature("The signature does not match the body.")
