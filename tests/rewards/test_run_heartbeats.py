"""A run's heartbeat decides whether its worker is alive; a dead run never blocks retraining."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from annotate.models import Project
from rewards.models import TrainingRun
from rewards.runs import beating, claim_run, request_retrain, resend_waiting_runs
from tests.factories import tasks_sent

pytestmark = pytest.mark.django_db


def _running(project: Project, *, silent_for: float) -> TrainingRun:
    beat = timezone.now() - timedelta(seconds=silent_for)
    return TrainingRun.objects.create(
        project=project, status="running", started_at=beat, heartbeat_at=beat
    )


def test_a_retrain_request_fails_a_silent_run_and_starts_a_new_one(
    project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    # given: a run whose worker stopped beating 61 s ago
    dead = _running(project, silent_for=61)
    # when
    with django_capture_on_commit_callbacks() as enqueued:
        run, created = request_retrain(project)
    # then
    dead.refresh_from_db()
    assert dead.status == "failed" and "stopped beating" in dead.error
    assert created and run.pk != dead.pk
    # one training task sent (the failed run's webhook event is queued beside it)
    assert len(tasks_sent(enqueued)) == 1


def test_a_retrain_request_returns_a_run_that_still_beats(project: Project) -> None:
    alive = _running(project, silent_for=5)
    assert request_retrain(project) == (alive, False)


@pytest.mark.django_db(transaction=True)  # the beat writes from its own thread and connection
def test_beating_keeps_a_claimed_run_fresh(project: Project, settings: Any) -> None:
    # given
    settings.REWARDS_RUN_HEARTBEAT_SECONDS = 0.05
    run = TrainingRun.objects.create(project=project)
    assert claim_run(run.pk)
    first = TrainingRun.objects.get(pk=run.pk).heartbeat_at
    # when: work that reports no progress
    with beating(run.pk):
        time.sleep(0.5)
    # then
    later = TrainingRun.objects.get(pk=run.pk).heartbeat_at
    assert first is not None and later is not None and later > first


def test_a_run_queued_past_the_stale_time_is_sent_again_once(
    project: Project, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    from rewards import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.retrain_project_task, "delay", sent.append)
    run = TrainingRun.objects.create(project=project)
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert resend_waiting_runs() == 1
    assert resend_waiting_runs() == 0  # not again until another stale period has passed
    assert sent == [run.pk]
