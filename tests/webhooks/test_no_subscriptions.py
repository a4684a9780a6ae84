"""A project without webhooks costs its events no query; a new subscription is seen at once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import Project
from webhooks.delivery import record_event
from webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/in"


def test_an_event_of_a_project_without_subscriptions_reads_nothing(project: Project) -> None:
    assert record_event(project, "judgement.created", {}) == []  # learns there are none
    with CaptureQueriesContext(connection) as captured:
        assert record_event(project, "judgement.created", {}) == []
    assert captured.captured_queries == []


def test_a_new_subscription_gets_the_next_event(project: Project) -> None:
    # given a project known to have no subscription
    record_event(project, "pair.completed", {})
    # when one is added, then the next event is delivered to it
    subscription = Subscription.objects.create(
        project=project, url=URL, events=["pair.completed"], secret="s"
    )
    assert len(record_event(project, "pair.completed", {"pair_id": 1})) == 1
    # and once it is deleted, events go nowhere again
    subscription.delete()
    assert record_event(project, "pair.completed", {}) == []
    assert Delivery.objects.count() == 0
