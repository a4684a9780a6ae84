"""Deliveries to a real receiver on loopback: signed, retried and logged, paused, resumed.

The task functions are called here directly (the worker adds nothing to what they do); the
worker path is tests/webhooks/test_worker.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from annotate.models import Project
from tests.factories import make_pairs
from tests.webhooks.conftest import Receiver, judge
from webhooks.delivery import deliver, resend_due_deliveries
from webhooks.models import Delivery, Subscription
from webhooks.signing import verify
from webhooks.subscriptions import create_subscription, update_subscription

pytestmark = pytest.mark.usefixtures("webhook_settings", "unread_queue")

SECRET = "s3cret-for-the-tests-only"


@pytest.fixture
def pending(project: Project, tmp_path: Path) -> Project:
    make_pairs(project, tmp_path, 6, labelled=False)
    return project


def _subscribe(project: Project, receiver: Receiver, *events: str) -> Subscription:
    subscription, _ = create_subscription(
        project, url=receiver.url, events=list(events or ["judgement.created"]), secret=SECRET
    )
    return subscription


def _judge_committed(project: Project, annotator: User, capture: Any) -> Delivery:
    with capture(execute=True):
        judge(project, annotator)
    return Delivery.objects.latest("pk")


def _deliver_until_settled(delivery: Delivery, tries: int = 10) -> Delivery:
    for _ in range(tries):
        deliver(delivery.pk)
        delivery.refresh_from_db()
        if delivery.status in (Delivery.Status.DELIVERED, Delivery.Status.FAILED):
            break
        time.sleep(0.06)  # past the backoff
    return delivery


def test_a_judgement_is_delivered_signed_with_the_subscription_secret(
    pending: Project, annotator: User, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    _subscribe(pending, receiver)
    delivery = _judge_committed(pending, annotator, django_capture_on_commit_callbacks)
    # when
    deliver(delivery.pk)
    # then
    [request] = receiver.wait_for(1)
    assert request.headers["Prefloop-Event"] == "judgement.created"
    assert verify(SECRET, request.headers["Prefloop-Signature"], request.body, now=int(time.time()))
    assert not verify(
        "another-secret-xx",
        request.headers["Prefloop-Signature"],
        request.body,
        now=int(time.time()),
    )
    client = pytest.importorskip("prefloop_client")  # the receiver's helper agrees
    assert client.verify_signature(SECRET, request.headers, request.body) == "judgement.created"
    body = json.loads(request.body)
    assert body["event"] == "judgement.created" and body["project"] == pending.slug
    assert body["id"] == str(delivery.event_id) and body["created_at"]
    assert body["data"]["annotator"] == annotator.username
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code == 204 and attempt.latency_ms is not None and attempt.number == 1


def test_only_the_events_a_subscription_asked_for_are_delivered(
    pending: Project, annotator: User, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given: one subscription for completed pairs only, overlap 1 so a vote completes its pair
    pending.judgements_per_pair = 1
    pending.max_judgements_per_pair = None
    pending.save()
    completed = _subscribe(pending, receiver, "pair.completed")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        recorded = judge(pending, annotator)
    # then
    [delivery] = Delivery.objects.filter(subscription=completed)
    assert delivery.event == "pair.completed"
    assert json.loads(delivery.body)["data"]["pair_id"] == recorded.judgement.pair_id


def test_a_stopped_receiver_gets_the_delivery_retried_and_logged_then_delivered(
    pending: Project,
    annotator: User,
    receiver: Receiver,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    # given
    settings.WEBHOOK_MAX_ATTEMPTS = 10
    _subscribe(pending, receiver)
    delivery = _judge_committed(pending, annotator, django_capture_on_commit_callbacks)
    receiver.stop()
    # when: two attempts while it is down
    for _ in range(2):
        deliver(delivery.pk)
        time.sleep(0.06)
    delivery.refresh_from_db()
    # then: both logged, the delivery waits for its next attempt
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 2
    failed = list(delivery.attempt_log.all())
    assert [a.number for a in failed] == [1, 2]
    assert all(a.status_code is None and a.error for a in failed)
    assert "ConnectError" in failed[0].error
    # when: it is back
    receiver.start()
    delivery = _deliver_until_settled(delivery)
    # then
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 3
    [request] = receiver.wait_for(1)
    assert json.loads(request.body)["id"] == str(delivery.event_id)


def test_a_server_error_is_retried_and_a_redirect_is_not_followed(
    pending: Project, annotator: User, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    _subscribe(pending, receiver)
    delivery = _judge_committed(pending, annotator, django_capture_on_commit_callbacks)
    receiver.status = 503
    deliver(delivery.pk)
    time.sleep(0.06)
    receiver.status = 302
    deliver(delivery.pk)
    delivery.refresh_from_db()
    # then
    first, second = delivery.attempt_log.all()
    assert (first.status_code, first.error) == (503, "HTTP 503")
    assert second.status_code == 302 and "redirects are not followed" in second.error
    assert len(receiver.received) == 2  # the redirect's target was never called


def test_a_url_that_keeps_failing_is_paused_with_its_reason_and_resumes(
    pending: Project, annotator: User, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given: 3 attempts a delivery, paused after 2 failed deliveries
    subscription = _subscribe(pending, receiver)
    receiver.status = 500
    first = _deliver_until_settled(
        _judge_committed(pending, annotator, django_capture_on_commit_callbacks)
    )
    second = _deliver_until_settled(
        _judge_committed(pending, annotator, django_capture_on_commit_callbacks)
    )
    assert (first.status, first.attempts) == (Delivery.Status.FAILED, 3)
    assert second.status == Delivery.Status.FAILED
    subscription.refresh_from_db()
    # then
    assert not subscription.is_active
    assert "2 deliveries in a row failed" in subscription.paused_reason
    assert "HTTP 500" in subscription.paused_reason
    # when: paused, a new event makes no delivery
    with django_capture_on_commit_callbacks(execute=True):
        judge(pending, annotator)
    assert Delivery.objects.filter(subscription=subscription).count() == 2
    # when: resumed, new events are delivered again
    receiver.status = 200
    update_subscription(subscription, is_active=True)
    delivery = _deliver_until_settled(
        _judge_committed(pending, annotator, django_capture_on_commit_callbacks)
    )
    assert delivery.status == Delivery.Status.DELIVERED
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.consecutive_failures == 0


def test_a_url_refused_at_delivery_time_is_not_called_and_pauses_the_subscription(
    pending: Project,
    annotator: User,
    receiver: Receiver,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    # given: the host was allowed when saved, then taken off the list
    subscription = _subscribe(pending, receiver)
    delivery = _judge_committed(pending, annotator, django_capture_on_commit_callbacks)
    settings.OUTBOUND_HOSTS = ["hooks.example.com"]
    # when
    deliver(delivery.pk)
    # then
    delivery.refresh_from_db()
    subscription.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and "OUTBOUND_HOSTS" in delivery.last_error
    assert receiver.received == []
    assert not subscription.is_active and "OUTBOUND_HOSTS" in subscription.paused_reason


def test_beat_sends_again_a_due_delivery_that_no_worker_took(
    pending: Project, annotator: User, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given: a delivery whose message was lost (nothing reads the queue it went to)
    _subscribe(pending, receiver)
    delivery = _judge_committed(pending, annotator, django_capture_on_commit_callbacks)
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=delivery.next_attempt_at.replace(year=2000)
    )
    # when
    sent = resend_due_deliveries()
    # then: sent once, and not again while the resent message is fresh
    assert sent == 1
    assert resend_due_deliveries() == 0


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_delivers_nothing(
    pending: Project, annotator: User, receiver: Receiver
) -> None:
    # given
    _subscribe(pending, receiver)
    # when: a judgement whose transaction rolls back, then one that commits
    with pytest.raises(RuntimeError), transaction.atomic():
        judge(pending, annotator)
        raise RuntimeError("rolled back")
    committed = judge(pending, annotator)
    # then
    [delivery] = Delivery.objects.all()
    assert json.loads(delivery.body)["data"]["judgement_id"] == committed.judgement.pk
    deliver(delivery.pk)
    [request] = receiver.wait_for(1)
    assert json.loads(request.body)["data"]["judgement_id"] == committed.judgement.pk


def test_a_judgement_event_carries_its_criteria_and_ratings(
    pending: Project, annotator: User, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    from tests.conftest import client_for

    # given a project that asks for a criterion and a rating beside the choice
    Project.objects.filter(pk=pending.pk).update(
        criteria=[{"name": "helpful", "guidance": "", "required": True}], rating_scale=[1, 2, 3]
    )
    _subscribe(pending, receiver)
    api = client_for(annotator)
    lease = api.post(f"/api/projects/{pending.slug}/next").json()
    body = {"choice": "left", "criteria": {"helpful": "right"}, "ratings": {"left": 3}}
    # when it is judged and the event delivered
    with django_capture_on_commit_callbacks(execute=True):
        url = f"/api/assignments/{lease['assignment']}/judgement"
        answer = api.post(url, {**body, "client_id": "w-1"}, format="json")
    assert answer.status_code == 201, answer.json()
    deliver(Delivery.objects.latest("pk").pk)
    # then the receiver learns the criterion's vote and the rating, in the pair's a/b terms
    [request] = receiver.wait_for(1)
    data = json.loads(request.body)["data"]
    a_left = data["shown_left"] == "a"
    assert data["criteria"] == {"helpful": "b" if a_left else "a"}
    assert list(data["ratings"].values()) == [3] and "ranking" not in data
