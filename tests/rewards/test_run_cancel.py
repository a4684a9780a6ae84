"""Cancelling a training run: the API, the models page, the client, and each worker path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from prefloop_client import Client, Conflict
from rest_framework.authtoken.models import Token

from annotate.models import Project
from annotate.signals import project_event
from rewards.models import RewardModel, TrainingRun
from rewards.tasks import retrain_project_task
from rewards.worker import launch, services
from rewards.worker.services import score_missing_responses, train_reward_model
from tests.conftest import client_for
from tests.factories import make_pairs
from tests.rewards.conftest import train_version

pytestmark = pytest.mark.django_db

HEADS = {"members": 2, "epochs": 2, "max_length": 32, "seed": 3}


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: Any) -> str:
    from rewards.ml.testing import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def events() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Project events (what webhooks deliver) sent while the test runs, as (name, data)."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(event: str, data: dict[str, Any], **kwargs: Any) -> None:
        sent.append((event, data))

    project_event.connect(record, dispatch_uid="test-run-cancel")
    try:
        yield sent
    finally:
        project_event.disconnect(dispatch_uid="test-run-cancel")


@pytest.fixture
def lenient_promotion(settings: Any) -> None:
    """Any new version beats the served one, so only a cancel can keep it unserved."""
    settings.REWARDS_PROMOTION_TOLERANCE = 1.0


def cancel_url(run: TrainingRun) -> str:
    return f"/api/training-runs/{run.pk}/cancel"


def running_run(project: Project, **options: Any) -> TrainingRun:
    return TrainingRun.objects.create(project=project, status="running", options=options)


def process_group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------- API


def test_it_cancels_a_queued_run_and_its_worker_never_trains_it(
    project: Project,
    admin: User,
    events: list[tuple[str, dict[str, Any]]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a queued run
    run = TrainingRun.objects.create(project=project)

    # when its admin cancels it
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(admin).post(cancel_url(run))

    # then it failed, saying who cancelled it, and webhooks hear it finished
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["id"], body["status"], body["error"]) == (run.pk, "failed", "Cancelled by alice")
    assert body["finished_at"] is not None
    assert ("run.finished", "failed", "Cancelled by alice") in [
        (event, data["status"], data["error"]) for event, data in events
    ]
    # and the worker that receives its task leaves it alone
    retrain_project_task(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == ("failed", 0, "Cancelled by alice")
    assert not RewardModel.objects.filter(project=project).exists()


def test_it_answers_409_for_a_run_that_already_ended(project: Project, admin: User) -> None:
    # given a cancelled run and a succeeded one
    api = client_for(admin)
    cancelled = TrainingRun.objects.create(project=project)
    assert api.post(cancel_url(cancelled)).status_code == 200
    succeeded = TrainingRun.objects.create(project=project, status="succeeded")

    # when either is cancelled
    again = api.post(cancel_url(cancelled))
    late = api.post(cancel_url(succeeded))

    # then both answer 409 saying why, and each keeps its outcome
    assert again.status_code == late.status_code == 409
    assert again.json()["detail"].startswith(f"Run {cancelled.pk} already failed")
    assert late.json()["detail"].startswith(f"Run {succeeded.pk} already succeeded")
    succeeded.refresh_from_db()
    assert (succeeded.status, succeeded.error) == ("succeeded", "")


def test_it_denies_annotators_and_outsiders(
    project: Project, annotator: User, outsider: User
) -> None:
    # given a queued run
    run = TrainingRun.objects.create(project=project)

    # when a member who is not an admin, or someone outside the project, cancels it
    member = client_for(annotator).post(cancel_url(run))
    stranger = client_for(outsider).post(cancel_url(run))
    anonymous = client_for(None).post(cancel_url(run))

    # then they are refused as on the run's own endpoint, and the run stays queued
    shown = client_for(annotator).get(f"/api/training-runs/{run.pk}")
    assert member.status_code == shown.status_code == 403
    assert stranger.status_code == 404
    assert anonymous.status_code == 401
    run.refresh_from_db()
    assert run.status == "queued"


def test_the_python_client_cancels_a_run(project: Project, admin: User) -> None:
    # given a queued run, and the client talking to this server in process
    run = TrainingRun.objects.create(project=project)
    http = httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler()))
    # (as Django's test client does: closing connections would end the test's transaction)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        client = Client("http://testserver", token=Token.objects.create(user=admin).key, http=http)
        handle = client.project(project.slug)

        # when the client cancels it
        cancelled = handle.cancel_run(run.pk)

        # then it gets the failed run back, and a second cancel is a Conflict with the reason
        assert (cancelled.id, cancelled.status, cancelled.error) == (
            run.pk,
            "failed",
            "Cancelled by alice",
        )
        assert cancelled.done
        with pytest.raises(Conflict, match="already failed"):
            cancelled.cancel()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        http.close()


# ---------------------------------------------------------------- the models page


def test_the_models_page_cancels_the_live_run(project: Project, admin: User) -> None:
    # given a running run, shown with a Cancel button that asks first
    run = running_run(project)
    page = client_for(None)
    page.force_login(admin)
    action = f"/projects/{project.slug}/models/runs/{run.pk}/cancel"
    html = page.get(f"/projects/{project.slug}/models").content.decode()
    assert f'action="{action}" data-confirm="Cancel run {run.pk}?' in html
    assert "js/workspace.js" in html  # what asks for the confirmation (no inline script)

    # when the admin presses it
    answer = page.post(action, follow=True)

    # then the page is shown again saying so, with no live run, and the run failed
    assert answer.redirect_chain == [(f"/projects/{project.slug}/models", 302)]
    html = answer.content.decode()
    assert f"Run {run.pk} is cancelled; the served model is unchanged." in html
    assert action not in html
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "Cancelled by alice")
    # and pressing it again (a second tab) says the run has ended
    again = page.post(action, follow=True).content.decode()
    assert f"Run {run.pk} already failed" in again


def test_the_models_page_cancel_is_for_project_admins(project: Project, annotator: User) -> None:
    run = TrainingRun.objects.create(project=project)
    page = client_for(None)
    page.force_login(annotator)
    answer = page.post(f"/projects/{project.slug}/models/runs/{run.pk}/cancel")
    assert answer.status_code == 403
    run.refresh_from_db()
    assert run.status == "queued"


# ---------------------------------------------------------------- the worker paths


def test_cancelling_a_fine_tune_stops_its_process_and_the_served_model_keeps_serving(
    rewards_dirs: Path,
    project: Project,
    admin: User,
    tiny_llama: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a served version and a long fine-tune training in its child process
    served = train_version(project, rewards_dirs)
    run = TrainingRun.objects.create(
        project=project,
        status="running",
        mode="finetune",
        options={"backbone": tiny_llama, "epochs": 200, "max_length": 32, "lora_rank": 4},
    )
    real_progress = launch.read_progress
    seen: dict[str, Any] = {"fractions": [], "pid": None, "answer": None}

    def cancel_once_training(job: Path, done: int = 0) -> list[dict[str, Any]]:
        lines = real_progress(job, done)
        seen["fractions"].extend(line["fraction"] for line in lines)
        if lines and seen["pid"] is None:
            # when its admin cancels it once the process has reported progress
            pid = seen["pid"] = int((job / launch.PID_FILE).read_text())
            assert process_group_alive(pid)
            seen["answer"] = client_for(admin).post(cancel_url(run))
        return lines

    monkeypatch.setattr(launch, "read_progress", cancel_once_training)
    train_reward_model(run.pk)

    # then the cancel answered at once, and the worker killed the process early on
    assert seen["answer"].status_code == 200
    assert not process_group_alive(seen["pid"])
    assert max(seen["fractions"]) < 0.5
    # and the run keeps the cancel as its outcome; no version was made
    run.refresh_from_db()
    assert (run.status, run.error, run.model) == ("failed", "Cancelled by alice", None)
    assert list(RewardModel.objects.filter(project=project)) == [served]
    assert not list((rewards_dirs / "models").glob("training-*"))
    # and the served version still scores
    assert_still_serves(project, served)


def assert_still_serves(project: Project, served: RewardModel) -> None:
    """`served` is still the project's served version, and still scores its responses."""
    assert RewardModel.objects.served(project.pk) == served
    served.scores.all().delete()
    assert score_missing_responses(served) > 0


def _cancel_on_call(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, admin: User, run: TrainingRun
) -> None:
    """The admin cancels the run, through the API, when the worker calls module.name."""
    real = getattr(module, name)

    def cancel_then_call(*args: Any, **kwargs: Any) -> Any:
        assert client_for(admin).post(cancel_url(run)).status_code == 200
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, cancel_then_call)


def test_a_heads_run_cancelled_while_it_trains_makes_no_version(
    rewards_dirs: Path,
    project: Project,
    admin: User,
    lenient_promotion: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a served version and more judgements
    served = train_version(project, rewards_dirs)
    make_pairs(project, rewards_dirs, 20)
    run = running_run(project, **HEADS)
    from rewards.ml import train_heads

    # when its admin cancels it between embedding and fitting the heads
    _cancel_on_call(monkeypatch, train_heads, "fit_heads", admin, run)
    train_reward_model(run.pk)

    # then the run stays cancelled, no version was stored, and the old one still serves
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "Cancelled by alice")
    assert list(RewardModel.objects.filter(project=project)) == [served]
    assert_still_serves(project, served)


def test_a_heads_version_trained_before_the_cancel_is_kept_unserved(
    rewards_dirs: Path,
    project: Project,
    admin: User,
    lenient_promotion: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a served version and a run that has stored its version
    served = train_version(project, rewards_dirs)
    make_pairs(project, rewards_dirs, 20)
    run = running_run(project, **HEADS)
    from rewards.ml import label_value

    # when its admin cancels it while the run measures its labels' value
    _cancel_on_call(monkeypatch, label_value, "compare_label_sources", admin, run)
    train_reward_model(run.pk)

    # then the run stays cancelled, its version is kept but not served, and says why
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "Cancelled by alice")
    made = RewardModel.objects.get(project=project, version=2)
    assert not made.is_active
    assert made.promotion_note == "not served: its run ended first (Cancelled by alice)"
    assert RewardModel.objects.served(project.pk) == served


def test_a_run_that_already_serves_its_version_is_not_cancelled(
    rewards_dirs: Path,
    project: Project,
    admin: User,
    lenient_promotion: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a run that has served its new version and re-ranks the queue with it
    served = train_version(project, rewards_dirs)
    make_pairs(project, rewards_dirs, 20)
    run = running_run(project, **HEADS)
    real_rewrite = services.rewrite_priorities
    answers: list[Any] = []

    def cancel_then_rewrite(*args: Any, **kwargs: Any) -> Any:
        # when its admin tries to cancel it then
        answers.append(client_for(admin).post(cancel_url(run)))
        return real_rewrite(*args, **kwargs)

    monkeypatch.setattr(services, "rewrite_priorities", cancel_then_rewrite)
    train_reward_model(run.pk)

    # then the cancel is refused saying why, and the run succeeds serving its version
    assert [a.status_code for a in answers] == [409]
    assert answers[0].json()["detail"].startswith(f"Run {run.pk} already serves v2")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.model is not None and run.model.version == 2
    assert RewardModel.objects.served(project.pk) == run.model != served
