"""Webhook input and output (page and API parse through the same serializers)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotate.api.serializers import CursorQuerySerializer
from config.outbound import OutboundRefused, check_outbound_url
from webhooks.events import EVENTS
from webhooks.models import Attempt, Delivery, Subscription


class SubscriptionInputSerializer(serializers.Serializer):
    """A new subscription, or (partial) the fields to change."""

    url = serializers.CharField(max_length=2000, help_text="http(s) URL allowed by OUTBOUND_HOSTS")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(EVENTS)),
        allow_empty=False,
        help_text="event names to receive",
    )
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        min_length=16,
        max_length=200,
        trim_whitespace=True,
        help_text="signs each delivery; generated when left out, shown once",
        write_only=True,
    )
    is_active = serializers.BooleanField(
        required=False, help_text="false pauses deliveries, true resumes them"
    )

    def validate_url(self, value: str) -> str:
        try:
            check_outbound_url(value, resolve=False)
        except OutboundRefused as refused:
            raise serializers.ValidationError(str(refused)) from None
        return value.strip()


class SubscriptionSerializer(serializers.ModelSerializer):
    """A subscription as listed; its secret is never shown again."""

    class Meta:
        model = Subscription
        fields = [
            "id",
            "url",
            "events",
            "is_active",
            "paused_reason",
            "paused_at",
            "consecutive_failures",
            "created_at",
        ]
        read_only_fields = fields


class CreatedSubscriptionSerializer(SubscriptionSerializer):
    """The answer to creating one: the only time its secret is returned."""

    secret = serializers.SerializerMethodField()

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj: Any) -> str:
        return str(self.context["secret"])


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["number", "status_code", "latency_ms", "error", "created_at"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    """A delivery with its attempts, newest first in the list."""

    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "finished_at",
            "attempt_log",
        ]
        read_only_fields = fields


class DeliveryQuerySerializer(CursorQuerySerializer):
    """The deliveries list's query string: `limit` is the page size, `after` the cursor."""

    status = serializers.ChoiceField(choices=Delivery.Status.choices, required=False)
    limit = serializers.IntegerField(default=50, min_value=1, max_value=500)
