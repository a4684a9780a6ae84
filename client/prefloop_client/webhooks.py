"""Checking a webhook delivery: `Prefloop-Signature: t=UNIX_SECONDS,v1=HEX`.

The signature is HMAC-SHA256, keyed with the subscription's secret, of `"{t}.{raw body}"`.
A receiver checks it over the raw bytes it received (before parsing the JSON) and refuses a
timestamp older than the tolerance, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "Prefloop-Signature"
EVENT_HEADER = "Prefloop-Event"
DEFAULT_TOLERANCE = 300  # seconds


class InvalidSignature(Exception):
    """The delivery is not signed with this secret, is malformed, or is too old."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a delivery of `body` at `timestamp` carries."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> str:
    """Check a delivery's signature and age; returns its event name (`Prefloop-Event`).

    Raises InvalidSignature when the header is missing or malformed, no `v1` matches (any
    of several, as during a secret rotation), or `t` is more than `tolerance` seconds away.
    """
    raw = body.encode() if isinstance(body, str) else body
    value = _header(headers, SIGNATURE_HEADER)
    if not value:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    parts = [item.split("=", 1) for item in value.split(",") if "=" in item]
    timestamps = [v.strip() for k, v in parts if k.strip() == "t"]
    signatures = [v.strip() for k, v in parts if k.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        raise InvalidSignature(f"malformed {SIGNATURE_HEADER} header: {value!r}")
    timestamp = int(timestamps[0])
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature(
            f"timestamp {timestamp} is {abs(current - timestamp):.0f}s away "
            f"(tolerance {tolerance:.0f}s)"
        )
    expected = sign(secret, raw, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise InvalidSignature("signature does not match")
    return _header(headers, EVENT_HEADER) or ""
