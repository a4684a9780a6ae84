"""Input a user can send is answered 400 (never 500), and no setting can break a project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotate.models import Judgement, Pair, Project
from rewards.models import RewardModel, ScoreRequest
from tests.conftest import client_for
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture
def creator(outsider: Any) -> Any:
    outsider.user_permissions.add(Permission.objects.get(codename="add_project"))
    return outsider


def _create(user: Any, **fields: Any) -> Any:
    body = {"name": "New", "slug": "new", **fields}
    return client_for(user).post("/api/projects/", body, format="json")


@pytest.mark.parametrize(
    "fields",
    [
        {"lease_seconds": 1099511627776},
        {"lease_seconds": 0},
        {"lease_seconds": 9},
        {"judgements_per_pair": 0},
        {"judgements_per_pair": 101},
        {"retrain_every": -1},
        {"retrain_every": 2**63},
    ],
)
def test_out_of_bounds_settings_are_a_field_error(creator: Any, fields: dict[str, Any]) -> None:
    response = _create(creator, **fields)
    assert response.status_code == 400
    assert set(response.json()) == set(fields)
    assert not Project.objects.filter(slug="new").exists()


def test_the_largest_lease_still_serves_pairs(creator: Any, tmp_path: Path) -> None:
    # given: a project at the upper bound
    assert _create(creator, lease_seconds=7 * 24 * 3600).status_code == 201
    project = Project.objects.get(slug="new")
    make_pairs(project, tmp_path, 2, labelled=False)
    # when
    response = client_for(creator).post("/api/projects/new/next", {}, format="json")
    # then
    assert response.status_code == 200


def test_models_and_the_database_refuse_out_of_bounds_values(project: Project) -> None:
    project.lease_seconds = 1099511627776
    with pytest.raises(ValidationError, match="lease_seconds"):
        project.full_clean()
    # a write that skips validation is refused by the check constraints
    for fields in ({"lease_seconds": 10**9}, {"judgements_per_pair": 1000}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Project.objects.filter(pk=project.pk).update(**fields)


@pytest.fixture
def lease(project: Project, tmp_path: Path, annotator: Any) -> int:
    make_pairs(project, tmp_path, 2, labelled=False)
    return (
        client_for(annotator)
        .post("/api/projects/proj/next", {}, format="json")
        .json()["assignment"]
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"duration_ms": 2**63},
        {"duration_ms": -1},
        {"rationale": "nul \x00 byte"},
        {"rationale": "lone \ud800 surrogate"},
        {"client_id": "\ud800"},
    ],
)
def test_bad_judgement_fields_are_400(annotator: Any, lease: int, extra: dict[str, Any]) -> None:
    body = {"choice": "left", "duration_ms": 10, "client_id": "c1", **extra}
    # json.dumps escapes a lone surrogate as JSON allows ("\\ud800")
    response = _raw_post(annotator, f"/api/assignments/{lease}/judgement", json.dumps(body))
    assert response.status_code == 400
    assert not Judgement.objects.exists()


def _raw_post(user: Any, url: str, text: str) -> Any:
    return client_for(user).post(url, text, content_type="application/json")


def test_a_json_body_nested_100000_deep_is_400(annotator: Any, project: Project) -> None:
    body = '{"after": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = _raw_post(annotator, "/api/projects/proj/next", body)
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]


def test_a_json_body_nested_past_the_limit_is_400(annotator: Any, project: Project) -> None:
    body = json.dumps({"after": json.loads("[" * 40 + "]" * 40)})
    response = _raw_post(annotator, "/api/projects/proj/next", body)
    assert response.status_code == 400
    assert "nested more than 32 levels" in response.json()["detail"]


@pytest.fixture
def served(project: Project) -> RewardModel:
    return RewardModel.objects.create(project=project, version=1, mode="heads", is_active=True)


@pytest.mark.parametrize(
    "body",
    [
        r'{"prompt": "lone \ud800", "responses": ["a"]}',
        r'{"prompt": [{"role": "user", "content": "nul \u0000"}], "responses": ["a"]}',
        r'{"prompt": "fine", "responses": ["\udfff"]}',
        r'{"prompt": "fine", "responses": ["a"], "\u0000": 1}',
    ],
)
def test_a_score_call_with_unstorable_text_is_400_and_leaves_no_row(
    annotator: Any, served: RewardModel, body: str
) -> None:
    response = _raw_post(annotator, "/api/projects/proj/score", body)
    assert response.status_code == 400
    assert not ScoreRequest.objects.exists()


def test_a_huge_id_in_a_path_is_404(annotator: Any, project: Project) -> None:
    for url in (
        "/api/assignments/99999999999999999999999/skip",
        "/api/imports/10000000000000000000",
    ):
        assert client_for(annotator).post(url).status_code in (404, 405)


def test_pairs_are_unchanged_by_refused_input(annotator: Any, lease: int) -> None:
    body = {"choice": "left", "duration_ms": 2**40, "client_id": "c2"}
    client_for(annotator).post(f"/api/assignments/{lease}/judgement", body, format="json")
    assert Pair.objects.filter(judgement_count=0).count() == 2


def test_a_settings_form_refuses_out_of_bounds_values(project: Project) -> None:
    from django.forms import modelform_factory

    form_class = modelform_factory(
        Project, fields=["name", "slug", "judgements_per_pair", "lease_seconds", "retrain_every"]
    )
    data = {"name": "P", "slug": "proj", "judgements_per_pair": 0}
    form = form_class(
        data={**data, "lease_seconds": 10**12, "retrain_every": 10**7}, instance=project
    )
    assert not form.is_valid()
    assert set(form.errors) == {"judgements_per_pair", "lease_seconds", "retrain_every"}
