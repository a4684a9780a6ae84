"""Each endpoint's limits, shared by every worker process through its database row.

`requests_per_minute` is a token bucket (capacity: one minute's requests, refilled continuously)
and `concurrency` a set of slots, each held by one call in flight until it returns or its
expiry passes (a killed worker's slot frees itself). Both live on the `ModelEndpoint` row and
change only by a conditional UPDATE on `limits_version` (compare and swap), so concurrent
workers on PostgreSQL or SQLite never lose each other's updates, and no Redis is needed.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from generation.models import ModelEndpoint

# The longest sleep between two looks at a busy endpoint.
MAX_POLL_S = 0.5


class LimitWaitTimeout(Exception):
    """No slot or request was free for the endpoint within the wait allowed."""


@dataclass(frozen=True)
class Slot:
    endpoint_id: int
    token: str


def _refilled(row: ModelEndpoint, now: datetime) -> float:
    capacity = float(row.requests_per_minute)
    if row.bucket_at is None:
        return capacity
    elapsed = max((now - row.bucket_at).total_seconds(), 0.0)
    return min(capacity, row.bucket_tokens + elapsed * capacity / 60.0)


def _try_acquire(endpoint_id: int, hold_s: float) -> tuple[Slot | None, float]:
    """A slot and a request token if both are free now, else None and the seconds to wait."""
    row = ModelEndpoint.objects.only(
        "requests_per_minute",
        "concurrency",
        "bucket_tokens",
        "bucket_at",
        "slots",
        "limits_version",
    ).get(pk=endpoint_id)
    now = timezone.now()
    stamp = now.timestamp()
    held = [slot for slot in row.slots if slot["until"] > stamp]
    tokens = _refilled(row, now)
    if len(held) >= row.concurrency:
        return None, min(min(slot["until"] for slot in held) - stamp, MAX_POLL_S)
    if tokens < 1.0:
        return None, min((1.0 - tokens) * 60.0 / row.requests_per_minute, MAX_POLL_S)
    token = secrets.token_hex(8)
    held.append({"token": token, "until": stamp + hold_s})
    swapped = ModelEndpoint.objects.filter(
        pk=endpoint_id, limits_version=row.limits_version
    ).update(
        bucket_tokens=tokens - 1.0,
        bucket_at=now,
        slots=held,
        limits_version=F("limits_version") + 1,
    )
    return (Slot(endpoint_id, token), 0.0) if swapped else (None, 0.0)


def acquire(endpoint: ModelEndpoint, *, wait_s: float) -> Slot:
    """Wait (up to `wait_s`) for a free slot and a request token of the endpoint; take both."""
    deadline = time.monotonic() + wait_s
    # A held slot outlives its call's timeout by the margin before it counts as abandoned.
    hold_s = endpoint.timeout_s + settings.GENERATION_SLOT_MARGIN_SECONDS
    while True:
        slot, pause = _try_acquire(endpoint.pk, hold_s)
        if slot is not None:
            return slot
        if time.monotonic() + pause > deadline:
            raise LimitWaitTimeout(
                f"endpoint {endpoint.name} stayed at its limits "
                f"({endpoint.concurrency} at once, {endpoint.requests_per_minute}/minute) "
                f"for {wait_s:.0f}s"
            )
        if pause > 0:
            time.sleep(pause)


def release(slot: Slot) -> None:
    """Give the slot back (a second release, or one of an expired slot, does nothing)."""
    for _ in range(100):
        row = ModelEndpoint.objects.only("slots", "limits_version").filter(pk=slot.endpoint_id)
        current = row.first()
        if current is None:
            return
        kept = [held for held in current.slots if held["token"] != slot.token]
        if len(kept) == len(current.slots):
            return
        if row.filter(limits_version=current.limits_version).update(
            slots=kept, limits_version=F("limits_version") + 1
        ):
            return
