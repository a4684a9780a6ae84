"""Signing a delivery: `Prefloop-Signature: t=UNIX_SECONDS,v1=HEX`.

HEX is HMAC-SHA256 of `"{t}.{raw body}"` keyed with the subscription's secret; the timestamp
inside the signed text lets a receiver refuse old replays.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Prefloop-Signature"
EVENT_HEADER = "Prefloop-Event"
DELIVERY_HEADER = "Prefloop-Delivery"


def new_secret() -> str:
    """A random secret for a subscription made without one."""
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: str) -> str:
    """The header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes | str, *, now: int, tolerance: int = 300) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance` seconds of `now`."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    raw = body if isinstance(body, bytes) else body.encode()
    expected = hmac.new(secret.encode(), str(timestamp).encode() + b"." + raw, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields.get("v1", ""))
