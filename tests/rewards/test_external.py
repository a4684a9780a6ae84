"""Bring your own reward model: registration, validated score uploads, serving rules."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Project, Response
from rewards.models import ResponseScore, RewardModel
from tests.conftest import client_for
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def responses(project: Project, tmp_path: Path) -> list[Response]:
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(20)))
    return list(Response.objects.filter(prompt__project=project).order_by("pk"))


def _register(admin: Any, project: Project, name: str = "my-trl-rm") -> dict:
    response = client_for(admin).post(
        f"/api/projects/{project.slug}/external-models", {"name": name}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def _upload(admin: Any, project: Project, model_id: int, **body: Any) -> Any:
    url = f"/api/projects/{project.slug}/external-models/{model_id}/scores"
    if "file" in body:
        return client_for(admin).post(url, body, format="multipart")
    return client_for(admin).post(url, body, format="json")


def _length_reward(text: str) -> float:
    return math.log1p(len(text))


def test_an_external_model_is_a_new_version(admin: Any, project: Project) -> None:
    RewardModel.objects.create(project=project, version=1, mode="heads")
    body = _register(admin, project)
    assert body["version"] == 2 and body["mode"] == "external" and body["name"] == "my-trl-rm"
    assert not body["is_active"]


def test_scores_by_response_id_with_members_are_stored_with_stats_and_baseline(
    admin: Any, project: Project, responses: list[Response]
) -> None:
    model = _register(admin, project)
    rows = [
        {"response_id": r.pk, "reward": _length_reward(r.text), "members": [1.0, 3.0]}
        if i == 0
        else {"response_id": r.pk, "reward": _length_reward(r.text), "members": [0.0, 2.0]}
        for i, r in enumerate(responses)
    ]
    response = _upload(admin, project, model["id"], scores=rows)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scored"] == 40
    assert body["model"]["reward_stats"]["n"] == 40
    # pair_rows' labels alternate a/b whatever the lengths: length has nothing to find here
    assert body["model"]["baseline"]["verdict"]
    first = ResponseScore.objects.get(model_id=model["id"], response=responses[0])
    assert first.mean == _length_reward(responses[0].text)
    assert first.std == 1.0 and first.members == [1.0, 3.0]


def test_a_jsonl_upload_matches_responses_by_prompt_and_text(
    admin: Any, project: Project, responses: list[Response]
) -> None:
    model = _register(admin, project)
    lines = [
        json.dumps({"prompt": r.prompt.messages, "text": r.text, "reward": float(i)})
        for i, r in enumerate(responses)
    ]
    upload = io.BytesIO(("\n".join(lines) + "\n").encode())
    upload.name = "scores.jsonl"
    response = _upload(admin, project, model["id"], file=upload)
    assert response.status_code == 200, response.content
    stored = dict(
        ResponseScore.objects.filter(model_id=model["id"]).values_list("response_id", "mean")
    )
    assert stored == {r.pk: float(i) for i, r in enumerate(responses)}


def test_a_bad_row_stores_nothing_and_names_its_line(
    admin: Any, project: Project, responses: list[Response], outsider: Any
) -> None:
    model = _register(admin, project)
    rows: list[Any] = [{"response_id": r.pk, "reward": 1.0} for r in responses[:5]]
    rows[1] = {"response_id": responses[1].pk, "reward": "high"}
    rows[3] = {"prompt": "never asked", "text": "nope", "reward": 0.5}
    rows.append({"response_id": responses[0].pk, "reward": 2.0})
    rows.append({"response_id": 10**9, "reward": 2.0})
    rows.append(["not", "an", "object"])
    response = _upload(admin, project, model["id"], scores=rows)
    assert response.status_code == 400
    errors = {(e["line"], e["field"]) for e in response.json()["errors"]}
    assert errors == {(2, "reward"), (4, "text"), (6, ""), (7, "response_id"), (8, "")}
    assert not ResponseScore.objects.filter(model_id=model["id"]).exists()


def test_uploads_refuse_nan_mixed_members_and_empty_bodies(
    admin: Any, project: Project, responses: list[Response]
) -> None:
    model = _register(admin, project)
    nan = io.BytesIO(f'{{"response_id": {responses[0].pk}, "reward": NaN}}\n'.encode())
    nan.name = "s.jsonl"
    assert _upload(admin, project, model["id"], file=nan).status_code == 400
    mixed = [
        {"response_id": responses[0].pk, "reward": 1.0, "members": [1.0, 2.0]},
        {"response_id": responses[1].pk, "reward": 1.0, "members": [1.0]},
    ]
    body = _upload(admin, project, model["id"], scores=mixed).json()
    assert body["errors"][0]["line"] == 2 and body["errors"][0]["field"] == "members"
    assert _upload(admin, project, model["id"], scores=[]).status_code == 400
    assert _upload(admin, project, model["id"]).status_code == 400


def test_only_admins_upload_and_only_to_external_models(
    admin: Any, annotator: Any, project: Project, responses: list[Response]
) -> None:
    model = _register(admin, project)
    trained = RewardModel.objects.create(project=project, version=5, mode="heads")
    rows = [{"response_id": responses[0].pk, "reward": 1.0}]
    url = f"/api/projects/{project.slug}/external-models/{model['id']}/scores"
    assert client_for(annotator).post(url, {"scores": rows}, format="json").status_code == 403
    assert _upload(admin, project, trained.pk, scores=rows).status_code == 404
    registered = client_for(annotator).post(
        f"/api/projects/{project.slug}/external-models", {"name": "x"}, format="json"
    )
    assert registered.status_code == 403


def test_the_score_api_says_an_external_model_scores_only_uploads(
    admin: Any, project: Project
) -> None:
    model = _register(admin, project)
    RewardModel.objects.filter(pk=model["id"]).update(is_active=True)
    response = client_for(admin).post(
        f"/api/projects/{project.slug}/score", {"prompt": "hi", "responses": ["a"]}, format="json"
    )
    assert response.status_code == 409
    assert "external" in response.json()["detail"]


def _upload_lines(admin: Any, project: Project, model_id: int, *lines: str) -> Any:
    upload = io.BytesIO("".join(line + "\n" for line in lines).encode())
    upload.name = "scores.jsonl"
    return _upload(admin, project, model_id, file=upload)


def test_a_reward_of_5000_digits_in_a_jsonl_upload_is_refused_by_line_and_field(
    admin: Any, project: Project, responses: list[Response]
) -> None:
    # given a file whose second reward is an integer Python will not even print
    model = _register(admin, project)
    good = json.dumps({"response_id": responses[0].pk, "reward": 1.0})
    huge = f'{{"response_id": {responses[1].pk}, "reward": {"9" * 5000}}}'
    # when
    response = _upload_lines(admin, project, model["id"], good, huge)
    # then
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["line"], error["field"]) == (2, "reward")
    assert error["message"].startswith("must be a finite number (got '9999")
    assert not ResponseScore.objects.filter(model_id=model["id"]).exists()


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"reward": 10**400}, "reward"),
        ({"reward": 1e300}, "reward"),
        ({"reward": 1.0, "members": [1.0, -1e300]}, "members[1]"),
    ],
)
def test_a_reward_that_would_overflow_is_refused_by_field(
    admin: Any, project: Project, responses: list[Response], row: dict[str, Any], field: str
) -> None:
    model = _register(admin, project)
    response = _upload(
        admin, project, model["id"], scores=[{"response_id": responses[0].pk, **row}]
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [
        {
            "line": 1,
            "field": field,
            "message": "must be a finite number from -1,000,000,000 to 1,000,000,000",
        }
    ]


def test_a_response_id_beyond_64_bits_is_refused_by_field(
    admin: Any, project: Project, responses: list[Response]
) -> None:
    model = _register(admin, project)
    response = _upload(admin, project, model["id"], scores=[{"response_id": 2**64, "reward": 1}])
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["line"], error["field"]) == (1, "response_id")


def test_a_score_line_over_the_line_limit_is_refused_by_line(
    admin: Any, project: Project, responses: list[Response], settings: Any
) -> None:
    settings.IMPORT_MAX_LINE_BYTES = 1024
    model = _register(admin, project)
    long = json.dumps({"prompt": "q" * 2000, "text": "t", "reward": 1.0})
    response = _upload_lines(admin, project, model["id"], long)
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [
        {"line": 1, "field": "", "message": "longer than 1024 bytes (IMPORT_MAX_LINE_BYTES)"}
    ]
