"""Webhook subscriptions of a project, their deliveries and every attempt to send one."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from annotate.models import Project


class Subscription(models.Model):
    """A URL that receives the project's chosen events, signed with its secret."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="event names this URL receives")
    # Kept to sign each delivery; shown once when made, never returned afterwards.
    secret = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    paused_reason = models.CharField(max_length=500, blank=True, default="")
    paused_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(
        default=0, help_text="deliveries that failed for good since the last success"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.url} ({self.project_id})"


class Delivery(models.Model):
    """One event for one subscription: the body sent on every attempt, and where it stands."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
        SENDING = "sending"  # claimed by a worker (claimed_at)
        DELIVERED = "delivered"
        FAILED = "failed"  # every attempt failed, or the URL was refused

    # No index of its own: one_delivery_per_event and the list's indexes lead with it.
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event_id = models.UUIDField(default=uuid.uuid4)
    event = models.CharField(max_length=50)
    # The exact bytes sent (and signed) on every attempt, so a retry is the same message.
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_id"], name="one_delivery_per_event"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            # The deliveries list, newest first by id, a keyset page at a time (webhooks/api.py).
            models.Index(fields=["subscription", "-id"], name="delivery_by_subscription"),
            models.Index(fields=["subscription", "status", "-id"], name="delivery_by_status"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} ({self.status})"


class Attempt(models.Model):
    """One try at sending a delivery: what came back, how long it took, or what went wrong."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
