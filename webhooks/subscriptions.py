"""Managing a project's subscriptions: create, change, pause, resume, delete."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotate.models import Project
from webhooks.models import Delivery, Subscription
from webhooks.signing import new_secret
from webhooks.tasks import deliver_task

PAUSED_BY_ADMIN = "Paused by a project admin."


def project_subscriptions(project: Project) -> QuerySet[Subscription]:
    return Subscription.objects.filter(project=project).order_by("pk")


def access_subscription(project: Project, subscription_id: int) -> Subscription:
    """The project's subscription; raises Subscription.DoesNotExist for another project's."""
    return Subscription.objects.select_related("project").get(pk=subscription_id, project=project)


def subscription_deliveries(
    subscription: Subscription, *, status: str | None = None
) -> QuerySet[Delivery]:
    """The deliveries (optionally of one status) with their attempts; page them newest first by
    id (indexes delivery_by_subscription and delivery_by_status)."""
    rows = Delivery.objects.filter(subscription=subscription).defer("body")
    if status:
        rows = rows.filter(status=status)
    return rows.prefetch_related("attempt_log")


def recent_deliveries(
    subscription: Subscription, *, limit: int = 50, status: str | None = None
) -> list[Delivery]:
    """The latest deliveries (optionally of one status) with their attempts, in two queries."""
    return list(subscription_deliveries(subscription, status=status).order_by("-pk")[:limit])


def create_subscription(
    project: Project, *, url: str, events: list[str], secret: str = "", by: Any = None
) -> tuple[Subscription, str]:
    """Subscribe `url` to `events`; returns the row and its secret (generated when not given).

    Input is validated by the serializer (webhooks/serializers.py), URL against OUTBOUND_HOSTS.
    """
    secret = secret or new_secret()
    subscription = Subscription.objects.create(
        project=project, url=url, events=_unique(events), secret=secret, created_by=by
    )
    return subscription, secret


def update_subscription(
    subscription: Subscription,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    secret: str | None = None,
    is_active: bool | None = None,
) -> Subscription:
    """Change what is given; `is_active` pauses (by hand) or resumes."""
    fields: list[str] = []
    if url is not None:
        subscription.url, fields = url, [*fields, "url"]
    if events is not None:
        subscription.events, fields = _unique(events), [*fields, "events"]
    if secret:
        subscription.secret, fields = secret, [*fields, "secret"]
    with transaction.atomic():
        if fields:
            subscription.save(update_fields=fields)
        if is_active is True and not subscription.is_active:
            resume_subscription(subscription)
        elif is_active is False and subscription.is_active:
            pause_subscription(subscription.pk, reason=PAUSED_BY_ADMIN)
            subscription.refresh_from_db()
    return subscription


def delete_subscription(subscription: Subscription) -> None:
    """Delete the subscription with its deliveries and their log."""
    subscription.delete()


def pause_subscription(subscription_id: int, *, reason: str) -> bool:
    """Stop sending to the subscription (its pending deliveries wait); False if already paused."""
    return bool(
        Subscription.objects.filter(pk=subscription_id, is_active=True).update(
            is_active=False, paused_reason=reason[:500], paused_at=timezone.now()
        )
    )


def resume_subscription(subscription: Subscription) -> int:
    """Send again: the held deliveries go out now; returns how many were sent."""
    now = timezone.now()
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(
            is_active=True, paused_reason="", paused_at=None, consecutive_failures=0
        )
        held = Delivery.objects.filter(subscription=subscription, status=Delivery.Status.PENDING)
        ids = list(held.values_list("pk", flat=True))
        held.update(next_attempt_at=now, claimed_at=None)
        for delivery_id in ids:
            # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
            deliver_task.delay_on_commit(delivery_id)  # type: ignore[attr-defined]
    subscription.is_active, subscription.paused_reason, subscription.paused_at = True, "", None
    subscription.consecutive_failures = 0
    return len(ids)


def _unique(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))
