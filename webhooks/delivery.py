"""Recording events as deliveries and sending them: signed, retried with backoff, logged.

An event becomes one `Delivery` row per subscription that asked for it, once the change that
made it has committed (annotate/signals.py `send_project_event`). A worker claims a due
delivery with one conditional UPDATE, makes one attempt, logs it, and either finishes the
delivery or sets its next attempt. The row is the state: a killed worker's claim goes stale and
beat (`resend_due_deliveries`) sends every due delivery again, so a lost message loses nothing.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import F, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from annotate.models import Project
from config.celery import BROKER_UNREACHABLE, try_send
from config.outbound import OutboundRefused, check_outbound_url
from webhooks.events import event_body
from webhooks.models import Attempt, Delivery, Subscription
from webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature
from webhooks.subscriptions import pause_subscription
from webhooks.tasks import deliver_task

logger = logging.getLogger(__name__)

Status = Delivery.Status
USER_AGENT = "prefloop-webhooks/1"


def on_project_event(
    sender: Any, *, project: Project, event: str, data: dict[str, Any], **kwargs: Any
) -> None:
    """`annotate.signals.project_event` receiver (runs after the change committed)."""
    record_event(project, event, data)


# How long "this project has no subscription" is believed without a look at the table. Saving
# or deleting a subscription forgets it at once (below); the cache is shared by the processes
# when there is a Redis, and this bounds how late the others learn it when there is none.
NO_SUBSCRIPTIONS_SECONDS = 10


def has_subscriptions(project_id: int) -> bool:
    """Whether the project has any subscription (active or not), mostly without a query: most
    projects have none, and every judgement sends an event or two."""
    key = _subscribed_key(project_id)
    try:
        known = caches["shared"].get(key)
    except Exception:  # an unreachable shared cache must not lose an event: ask the table
        logger.warning("shared cache unavailable; reading subscriptions", exc_info=True)
        known = None
    if known is None:
        known = Subscription.objects.filter(project_id=project_id).exists()
        with contextlib.suppress(Exception):
            caches["shared"].set(key, known, NO_SUBSCRIPTIONS_SECONDS)
    return bool(known)


@receiver(post_save, sender=Subscription, dispatch_uid="webhooks-subscribed")
@receiver(post_delete, sender=Subscription, dispatch_uid="webhooks-unsubscribed")
def _forget_subscribed(sender: Any, instance: Subscription, **kwargs: Any) -> None:
    """Forget the fact now and again at commit, so an event read in between does not keep it."""
    forget = functools.partial(_forget, instance.project_id)
    forget()
    transaction.on_commit(forget)


def _forget(project_id: int) -> None:
    try:
        caches["shared"].delete(_subscribed_key(project_id))
    except Exception:  # then it is believed for NO_SUBSCRIPTIONS_SECONDS at most
        logger.warning("shared cache unavailable; subscriptions seen late", exc_info=True)


def _subscribed_key(project_id: int) -> str:
    return f"webhooks-subscribed:{project_id}"


def record_event(project: Project, event: str, data: dict[str, Any]) -> list[int]:
    """A delivery for each active subscription of the project that asked for `event`."""
    if not has_subscriptions(project.pk):
        return []
    wanted = [
        pk
        for pk, events in Subscription.objects.filter(
            project_id=project.pk, is_active=True
        ).values_list("pk", "events")
        if event in events
    ]
    if not wanted:
        return []
    now = timezone.now()
    event_id = uuid.uuid4()
    body = event_body(
        event_id=event_id, event=event, created_at=now, project=project.slug, data=data
    )
    with transaction.atomic():
        deliveries = Delivery.objects.bulk_create(
            Delivery(
                subscription_id=pk, event_id=event_id, event=event, body=body, next_attempt_at=now
            )
            for pk in wanted
        )
        for delivery in deliveries:
            # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
            deliver_task.delay_on_commit(delivery.pk)  # type: ignore[attr-defined]
    return [delivery.pk for delivery in deliveries]


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code and latency, or the error that stopped it."""

    status_code: int | None
    latency_ms: int | None
    error: str
    refused: bool = False  # the URL is outside OUTBOUND_HOSTS: no retry

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim_delivery(delivery_id: int) -> bool:
    """Take a due delivery (or one a dead worker held); False when it is not due or not ours."""
    now = timezone.now()
    stale = now - timedelta(seconds=_claim_seconds())
    claimed = Delivery.objects.filter(
        Q(status=Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Status.SENDING, claimed_at__lt=stale),
        pk=delivery_id,
        subscription__is_active=True,
    ).update(status=Status.SENDING, claimed_at=now)
    return claimed == 1


def deliver(delivery_id: int) -> None:
    """One attempt at the delivery if it is due and unclaimed; log it and settle what follows."""
    if not claim_delivery(delivery_id):
        return
    delivery = Delivery.objects.select_related("subscription").get(pk=delivery_id)
    outcome = send_once(delivery)
    _settle(delivery, outcome)


def send_once(delivery: Delivery) -> Outcome:
    """POST the delivery's body, signed now; redirects are not followed, the body not read."""
    subscription = delivery.subscription
    try:
        check_outbound_url(subscription.url)
    except OutboundRefused as refused:
        return Outcome(None, None, f"refused: {refused}", refused=True)
    now = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(subscription.secret, now, delivery.body),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.event_id),
    }
    started = time.monotonic()
    try:
        # trust_env=False: no proxy from the environment, so the checked host is the one called.
        with (
            httpx.Client(
                follow_redirects=False,
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                trust_env=False,
            ) as client,
            client.stream(
                "POST", subscription.url, content=delivery.body.encode(), headers=headers
            ) as response,
        ):
            code = response.status_code
            location = response.headers.get("location", "")
    except httpx.TimeoutException:
        return Outcome(None, _ms(started), f"timed out after {settings.WEBHOOK_TIMEOUT_SECONDS}s")
    except httpx.HTTPError as error:
        return Outcome(None, _ms(started), f"{type(error).__name__}: {error}"[:500])
    if 300 <= code < 400:
        return Outcome(code, _ms(started), f"HTTP {code}: redirects are not followed ({location})")
    return Outcome(code, _ms(started), "" if 200 <= code < 300 else f"HTTP {code}")


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _settle(delivery: Delivery, outcome: Outcome) -> None:
    """Log the attempt; finish the delivery or set its next attempt; pause a failing URL."""
    number = delivery.attempts + 1
    now = timezone.now()
    mine = Delivery.objects.filter(
        pk=delivery.pk, status=Status.SENDING, claimed_at=delivery.claimed_at
    )
    common = {
        "attempts": number,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "claimed_at": None,
    }
    final = outcome.ok or outcome.refused or number >= settings.WEBHOOK_MAX_ATTEMPTS
    pause = None if final else backoff_seconds(number)
    with transaction.atomic():
        Attempt.objects.create(
            delivery_id=delivery.pk,
            number=number,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
        )
        if pause is not None:
            mine.update(
                **common, status=Status.PENDING, next_attempt_at=now + timedelta(seconds=pause)
            )
            transaction.on_commit(lambda: _send_later(delivery.pk, pause))
            return
        status = Status.DELIVERED if outcome.ok else Status.FAILED
        if not mine.update(**common, status=status, finished_at=now):
            return  # another worker took the delivery over (ours was slow): its outcome counts
        _count_outcome(delivery.subscription, outcome)


def _count_outcome(subscription: Subscription, outcome: Outcome) -> None:
    """A success resets the failure count; a failed delivery adds one and may pause the URL."""
    if outcome.ok:
        Subscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0)
        return
    failed = Subscription.objects.filter(pk=subscription.pk)
    failed.update(consecutive_failures=F("consecutive_failures") + 1)
    count = failed.values_list("consecutive_failures", flat=True).first() or 0
    when = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    if outcome.refused:
        reason = f"Paused on {when}: the URL is {outcome.error}."
    elif count >= settings.WEBHOOK_PAUSE_AFTER_FAILURES:
        reason = (
            f"Paused on {when} after {count} deliveries in a row failed "
            f"({settings.WEBHOOK_MAX_ATTEMPTS} attempts each); the last: {outcome.error}."
        )
    else:
        return
    if pause_subscription(subscription.pk, reason=reason):
        logger.warning("webhook %s paused: %s", subscription.pk, reason)


def backoff_seconds(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling, capped, jittered."""
    base = settings.WEBHOOK_BACKOFF_SECONDS * 2 ** (attempts - 1)
    return min(base, settings.WEBHOOK_MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.0)


def _send_later(delivery_id: int, seconds: float) -> None:
    # A lost or unsent message is no loss: beat sends every due delivery again.
    try:
        deliver_task.apply_async((delivery_id,), countdown=seconds)
    except BROKER_UNREACHABLE as error:
        logger.warning("broker unreachable; delivery %s waits for beat: %s", delivery_id, error)


def _claim_seconds() -> float:
    """How long a claim holds: past this the worker is taken for dead."""
    return settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30


def resend_due_deliveries(limit: int = 1000) -> int:
    """Send the task again for due deliveries nobody took within WEBHOOK_RESEND_SECONDS.

    A pending delivery's `claimed_at` is when beat last sent it; a sending one's, when its
    worker claimed it (past `_claim_seconds` that worker is taken for dead).
    """
    now = timezone.now()
    grace = now - timedelta(seconds=settings.WEBHOOK_RESEND_SECONDS)
    due = Delivery.objects.filter(subscription__is_active=True).filter(
        Q(status=Status.PENDING, next_attempt_at__lt=grace)
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=grace))
        | Q(status=Status.SENDING, claimed_at__lt=now - timedelta(seconds=_claim_seconds()))
    )
    sent = 0
    for delivery_id in list(due.order_by("pk").values_list("pk", flat=True)[:limit]):
        if Delivery.objects.filter(pk=delivery_id, status=Status.PENDING).update(claimed_at=now):
            logger.info("delivery %s is due and was not taken; sent again", delivery_id)
        sent += try_send(deliver_task, delivery_id)
    return sent


def purge_old_deliveries() -> int:
    """Delete finished deliveries older than WEBHOOK_KEEP_DAYS, with their attempts."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_KEEP_DAYS)
    old = Delivery.objects.filter(
        status__in=[Status.DELIVERED, Status.FAILED], created_at__lt=cutoff
    )
    return old.delete()[0]
