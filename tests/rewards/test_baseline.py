"""The length baseline beside every version: API shape, page verdict, optional promotion gate."""

from __future__ import annotations

from typing import Any

import pytest

from annotate.models import Project
from rewards.models import RewardModel
from rewards.worker.services import decide_promotion
from rewards.worker.snapshot import Snapshot
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

LOSES = {
    "length_accuracy": 0.74,
    "accuracy_difference": -3.0,
    "interval": [-9.1, 2.9],
    "verdict": "no better than response length on these pairs (-3.0 points [-9.1, +2.9])",
    "length_correlation": 0.81,
    "n": 203,
}
WINS = {
    "length_accuracy": 0.56,
    "accuracy_difference": 6.1,
    "interval": [2.0, 10.3],
    "verdict": "beats length by 6.1 points [+2.0, +10.3]",
    "n": 579,
}
EMPTY = Snapshot(train=[], validation=[], judgements=0, last_judgement_id=0)


def _version(project: Project, version: int, baseline: dict[str, Any]) -> RewardModel:
    return RewardModel.objects.create(
        project=project,
        version=version,
        mode="heads",
        metrics={"accuracy": 0.7},
        baseline=baseline,
    )


def test_every_version_carries_its_baseline_in_the_api(admin: Any, project: Project) -> None:
    _version(project, 1, LOSES)
    _version(project, 2, {})  # trained before baselines were recorded
    body = client_for(admin).get(f"/api/projects/{project.slug}/models").json()
    by_version = {m["version"]: m["baseline"] for m in body["models"]}
    assert by_version[1]["length_accuracy"] == 0.74
    assert by_version[1]["accuracy_difference"] == -3.0
    assert by_version[1]["interval"] == [-9.1, 2.9]
    assert by_version[1]["verdict"].startswith("no better than response length")
    assert by_version[2]["interval"] is None
    assert by_version[2]["verdict"].startswith("not measured")


def test_the_models_page_shows_the_verdict(admin: Any, project: Project) -> None:
    _version(project, 1, WINS)
    page = client_for(admin)
    page.force_login(admin)
    html = page.get(f"/projects/{project.slug}/models").content.decode()
    assert "beats length by 6.1 points [+2.0, +10.3]" in html
    assert "Length only" in html


def test_by_default_a_version_is_served_even_if_length_does_as_well(project: Project) -> None:
    model = _version(project, 1, LOSES)
    assert decide_promotion(model, EMPTY)
    assert RewardModel.objects.get(pk=model.pk).is_active


def test_a_project_can_require_beating_length_before_serving(project: Project) -> None:
    # given the setting on and a served version
    Project.objects.filter(pk=project.pk).update(promotion_requires_beating_length=True)
    served = _version(project, 1, WINS)
    served.project.refresh_from_db()
    assert decide_promotion(served, EMPTY)
    # when a version that does not beat length is trained
    loser = _version(project, 2, LOSES)
    loser.project.refresh_from_db()
    promoted = decide_promotion(loser, EMPTY)
    # then it is kept, not served, and the note says why
    assert not promoted
    loser.refresh_from_db()
    assert not loser.is_active and RewardModel.objects.get(is_active=True) == served
    assert loser.promotion_note.startswith("not served: the project requires beating response")
    assert "no better than response length" in loser.promotion_note
