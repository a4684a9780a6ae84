"""The delivery path with a real Celery worker and a real receiver on loopback.

Nothing is sent from the request: the judgement commits, the worker posts. The receiver is
stopped for a while (attempts are retried and logged), the worker is killed mid-retry (beat's
resend finds the delivery in the database), and a rolled-back judgement is never delivered.
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
from tests.conftest import dedicated_worker, tasks_routed_to, wait_until
from tests.factories import make_pairs
from tests.webhooks.conftest import Receiver, judge
from webhooks.delivery import resend_due_deliveries
from webhooks.models import Attempt, Delivery
from webhooks.signing import verify
from webhooks.subscriptions import create_subscription

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "webhooks-test"


def _delivery_of(judgement_id: int) -> Delivery:
    return next(
        d
        for d in Delivery.objects.all()
        if json.loads(d.body)["data"]["judgement_id"] == judgement_id
    )


def _failed_attempts(delivery: Delivery) -> int:
    return Attempt.objects.filter(delivery=delivery, status_code=None).count()


def test_a_worker_delivers_retries_a_stopped_receiver_and_survives_being_killed(
    project: Project, annotator: User, receiver: Receiver, tmp_path: Path, settings: Any
) -> None:
    # given
    settings.OUTBOUND_HOSTS = [receiver.host]
    settings.WEBHOOK_RESEND_SECONDS = 1
    make_pairs(project, tmp_path, 6, labelled=False)
    _, secret = create_subscription(project, url=receiver.url, events=["judgement.created"])
    env = {
        "OUTBOUND_HOSTS": receiver.host,
        "WEBHOOKS_QUEUE": QUEUE,
        "WEBHOOK_BACKOFF_SECONDS": "0.3",
        "WEBHOOK_MAX_BACKOFF_SECONDS": "1",
        "WEBHOOK_MAX_ATTEMPTS": "100",
    }
    with tasks_routed_to("webhooks.tasks.*", QUEUE):
        with dedicated_worker(tmp_path, "webhooks-1", QUEUE, **env) as worker:
            # when: one judgement rolls back, one commits
            with pytest.raises(RuntimeError), transaction.atomic():
                judge(project, annotator)
                raise RuntimeError("rolled back")
            committed = judge(project, annotator)
            # then: the committed one arrives, signed; the rolled-back one never does
            [request] = receiver.wait_for(1)
            body = json.loads(request.body)
            assert body["data"]["judgement_id"] == committed.judgement.pk
            signed = request.headers["Prefloop-Signature"]
            assert verify(secret, signed, request.body, now=int(time.time()))
            assert request.headers["Prefloop-Event"] == "judgement.created"

            # when: the receiver stops
            receiver.stop()
            second = judge(project, annotator)
            delivery = _delivery_of(second.judgement.pk)
            wait_until(lambda: _failed_attempts(delivery) >= 3, what="3 failed attempts")
            # then: retried and logged, still waiting
            delivery.refresh_from_db()
            assert delivery.status in (Delivery.Status.PENDING, Delivery.Status.SENDING)
            assert all("ConnectError" in a.error for a in delivery.attempt_log.all())
            # when: it is back
            receiver.start()
            wait_until(
                lambda: Delivery.objects.filter(pk=delivery.pk, status="delivered").exists(),
                what="delivered after the receiver came back",
            )

            # when: the receiver stops again and the worker is killed mid-retry
            receiver.stop()
            third = judge(project, annotator)
            lost = _delivery_of(third.judgement.pk)
            wait_until(lambda: _failed_attempts(lost) >= 1, what="a failed attempt")
            worker.kill()
            worker.wait()
        receiver.start()
        with dedicated_worker(tmp_path, "webhooks-2", QUEUE, **env):
            # then: beat's resend finds the due delivery in the database
            def resent_and_delivered() -> bool:
                resend_due_deliveries()
                return Delivery.objects.filter(pk=lost.pk, status="delivered").exists()

            wait_until(resent_and_delivered, timeout=60, what="delivered by the new worker")

    ids = [json.loads(r.body)["data"]["judgement_id"] for r in receiver.received]
    assert sorted(set(ids)) == sorted(
        [committed.judgement.pk, second.judgement.pk, third.judgement.pk]
    )
    assert _delivery_of(second.judgement.pk).attempts >= 4
