"""Served means served: a version promoted before its re-rank failed is recorded as serving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from annotate.models import Project
from rewards.models import RewardModel, TrainingRun
from rewards.worker import services
from tests.factories import make_pairs, make_project, tasks_sent
from tests.rewards.conftest import train_version

pytestmark = pytest.mark.django_db


def _models_page(user: Any, project: Project) -> str:
    client = Client()
    client.force_login(user)
    return client.get(f"/projects/{project.slug}/models").content.decode()


def test_a_failed_rerank_after_promotion_leaves_the_run_succeeded_and_retries(
    rewards_dirs: Path,
    admin: Any,
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given scoring that breaks right after the new version is promoted
    def broken(model: RewardModel) -> int:
        raise RuntimeError("the scorer ran out of memory")

    monkeypatch.setattr(services, "score_missing_responses", broken)
    # when a run trains and serves its version
    make_pairs(project, rewards_dirs, 30)
    with django_capture_on_commit_callbacks() as queued:
        model = train_version(project, rewards_dirs, pairs=0)
    # then the run succeeded and the version serves, with the failed re-rank recorded
    run = TrainingRun.objects.get()
    assert run.status == "succeeded" and run.model == model
    assert "re-ranking the queue failed, retrying" in run.message
    assert model.is_active
    assert model.rerank_error == "RuntimeError: the scorer ran out of memory"
    assert model.reranked_at is None and model.rerank_attempts == 1
    assert len(tasks_sent(queued)) == 1  # the retry
    page = _models_page(admin, project)
    assert 'data-rerank="failed"' in page and "ran out of memory" in page
    # when the retry succeeds
    monkeypatch.undo()
    assert services.rerank_served(project.pk, attempt=1)
    # then the page says the queue follows the served version
    model.refresh_from_db()
    assert (model.rerank_error, model.rerank_attempts) == ("", 2)
    assert model.reranked_at is not None
    page = _models_page(admin, project)
    assert 'data-rerank="done"' in page and "after 2 attempts" in page


def test_retries_stop_after_a_few_attempts(
    project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as queued:
        assert services.retry_rerank(project.pk, attempt=services.RERANK_RETRIES)
        assert not services.retry_rerank(project.pk, attempt=services.RERANK_RETRIES + 1)
    assert len(tasks_sent(queued)) == 1


def test_served_is_the_projects_active_version_by_project_or_id(project: Project) -> None:
    # given two versions, the older one served, and another project serving nothing
    old = RewardModel.objects.create(project=project, version=1, mode="heads", is_active=True)
    RewardModel.objects.create(project=project, version=2, mode="heads")
    other = make_project("other")
    # then
    assert RewardModel.objects.served(project) == old
    assert RewardModel.objects.served(project.pk) == old
    assert RewardModel.objects.served(other) is None
