"""Each product event becomes a delivery for the subscriptions that asked for it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.importing.jobs import claim_import_job, run_import_job
from annotate.importing.pipeline import start_import
from annotate.judging.gold import pause_annotator
from annotate.models import Project
from rewards.models import RewardModel, TrainingRun
from rewards.runs import claim_run, finish_run, promote_model
from webhooks.events import EVENTS
from webhooks.models import Delivery
from webhooks.subscriptions import create_subscription

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unread_queue")]


@pytest.fixture(autouse=True)
def _subscribed(project: Project, settings: Any) -> None:
    settings.OUTBOUND_HOSTS = ["hooks.example.com"]
    create_subscription(project, url="https://hooks.example.com/all", events=list(EVENTS))


def _sent(capture: Any, action: Any) -> dict[str, dict[str, Any]]:
    """Run `action` with commit callbacks run; the deliveries it made, by event name."""
    before = set(Delivery.objects.values_list("pk", flat=True))
    with capture(execute=True):
        action()
    made = Delivery.objects.exclude(pk__in=before)
    return {d.event: json.loads(d.body) for d in made}


def _upload(project: Project, admin: User, text: str) -> int:
    file = SimpleUploadedFile("rows.jsonl", text.encode())
    job = start_import(project, admin, file=file)
    assert claim_import_job(job.pk)
    return job.pk


def test_an_import_sends_finished_or_failed(
    project: Project, admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    good = '{"prompt": "p", "response_a": "x", "response_b": "y"}\n'
    job_id = _upload(project, admin, good)
    sent = _sent(django_capture_on_commit_callbacks, lambda: run_import_job(job_id))
    assert sent["import.finished"]["data"]["job_id"] == job_id
    assert sent["import.finished"]["data"]["result"]

    job_id = _upload(project, admin, '{"nothing": 1}\n')
    sent = _sent(django_capture_on_commit_callbacks, lambda: run_import_job(job_id))
    failed = sent["import.failed"]["data"]
    assert failed["status"] == "failed" and "line 1" in failed["errors"][0]


def test_a_finished_run_and_a_served_model_are_sent(
    project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    run = TrainingRun.objects.create(project=project)
    assert claim_run(run.pk)
    model = RewardModel.objects.create(project=project, version=1, mode="heads")
    served = _sent(django_capture_on_commit_callbacks, lambda: promote_model(model, note="ok"))
    assert served["model.served"]["data"]["version"] == 1
    finished = _sent(
        django_capture_on_commit_callbacks,
        lambda: finish_run(run.pk, TrainingRun.Status.SUCCEEDED, model=model),
    )
    data = finished["run.finished"]["data"]
    assert (data["run_id"], data["status"], data["model_version"]) == (run.pk, "succeeded", 1)


def test_pausing_an_annotator_sends_annotator_flagged(
    project: Project, annotator: User, django_capture_on_commit_callbacks: Any
) -> None:
    sent = _sent(
        django_capture_on_commit_callbacks,
        lambda: pause_annotator(project, annotator.pk, reason="too fast"),
    )
    data = sent["annotator.flagged"]["data"]
    assert (data["annotator"], data["reason"], data["by"]) == ("bob", "too fast", "admin")
