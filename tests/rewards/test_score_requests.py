"""Score requests answer at once and are purged by beat after their time to live."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from annotate.models import Project
from rewards.models import RewardModel, ScoreRequest
from rewards.scoring import purge_score_requests
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def served(project: Project) -> RewardModel:
    return RewardModel.objects.create(project=project, version=1, mode="heads", is_active=True)


def test_a_score_call_is_answered_at_once_with_where_to_look(
    annotator: Any, served: RewardModel, django_capture_on_commit_callbacks: Any
) -> None:
    # when
    with django_capture_on_commit_callbacks() as enqueued:
        response = client_for(annotator).post(
            "/api/projects/proj/score", {"prompt": "hi", "responses": ["a", "b"]}, format="json"
        )
    # then: a 202 naming the request, and its scoring queued after commit
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == body["url"]
    assert body["url"].endswith(f"/api/score-requests/{body['request']}")
    assert len(enqueued) == 1
    # and following the URL says it is still queued
    follow = client_for(annotator).get(body["url"])
    assert (follow.status_code, follow.json()["status"]) == (202, "queued")


def test_an_answered_request_returns_its_rewards(annotator: Any, served: RewardModel) -> None:
    row = ScoreRequest.objects.create(
        project=served.project,
        model=served,
        payload={},
        status="succeeded",
        result=[{"reward": 0.5, "std": 0.1}],
    )
    response = client_for(annotator).get(f"/api/score-requests/{row.pk}")
    assert response.json() == {"model": 1, "rewards": [{"reward": 0.5, "std": 0.1}]}


def test_old_score_requests_are_purged(served: RewardModel) -> None:
    old, new = (
        ScoreRequest.objects.create(project=served.project, model=served, payload={})
        for _ in range(2)
    )
    ScoreRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert purge_score_requests() == 1
    assert list(ScoreRequest.objects.all()) == [new]


def test_outsiders_cannot_follow_a_request(outsider: Any, served: RewardModel) -> None:
    row = ScoreRequest.objects.create(project=served.project, model=served, payload={})
    assert client_for(outsider).get(f"/api/score-requests/{row.pk}").status_code == 404
