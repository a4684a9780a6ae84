"""verify_signature: the recipe a webhook receiver follows, checked over the raw body."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from prefloop_client import InvalidSignature, verify_signature

SECRET = "whsec-test"
BODY = b'{"id": "evt_1", "event": "pair.completed", "data": {"pair": 3}}'
NOW = 1_800_000_000


def _headers(secret: str = SECRET, body: bytes = BODY, t: int = NOW) -> dict[str, str]:
    # The recipe spelled out: HMAC-SHA256 of "{t}.{raw body}" with the subscription's secret.
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Prefloop-Signature": f"t={t},v1={digest}", "Prefloop-Event": "pair.completed"}


def test_a_signed_delivery_is_accepted_and_names_its_event() -> None:
    assert verify_signature(SECRET, _headers(), BODY, now=NOW + 10) == "pair.completed"


def test_header_names_are_case_insensitive_and_the_body_may_be_text() -> None:
    headers = {k.lower(): v for k, v in _headers().items()}
    assert verify_signature(SECRET, headers, BODY.decode(), now=NOW) == "pair.completed"


def test_any_of_several_signatures_may_match() -> None:
    # e.g. while a secret is rotated
    good = _headers()["Prefloop-Signature"].split("v1=")[1]
    headers = {"Prefloop-Signature": f"t={NOW},v1={'0' * 64},v1={good}"}
    assert verify_signature(SECRET, headers, BODY, now=NOW) == ""


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (_headers(), BODY + b" ", "does not match"),
        (_headers(secret="other"), BODY, "does not match"),
        (_headers(t=NOW - 301), BODY, "tolerance"),
        (_headers(t=NOW + 301), BODY, "tolerance"),
        ({}, BODY, "no Prefloop-Signature"),
        ({"Prefloop-Signature": "v1=abc"}, BODY, "malformed"),
        ({"Prefloop-Signature": f"t=soon,v1={'0' * 64}"}, BODY, "malformed"),
    ],
)
def test_tampered_forged_old_or_malformed_deliveries_are_refused(
    headers: dict[str, str], body: bytes, reason: str
) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        verify_signature(SECRET, headers, body, now=NOW)


def test_the_tolerance_can_be_widened() -> None:
    verify_signature(SECRET, _headers(t=NOW - 3600), BODY, now=NOW, tolerance=7200)


def test_it_accepts_what_the_server_signs() -> None:
    # given: a delivery signed the way the server's worker signs it
    from webhooks.signing import EVENT_HEADER, SIGNATURE_HEADER, signature

    body = '{"id": "evt_2", "event": "run.finished"}'
    headers = {SIGNATURE_HEADER: signature(SECRET, NOW, body), EVENT_HEADER: "run.finished"}
    # when / then
    assert verify_signature(SECRET, headers, body.encode(), now=NOW) == "run.finished"
