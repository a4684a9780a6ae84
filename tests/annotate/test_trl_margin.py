"""The `trl` export's `margin` column: present where votes record a strength, the mean strength
of each pair's majority, a float in every row (0.0 where none of the majority graded it)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotate.models import Judgement, Project
from annotate.review.actions import invalidate_judgement
from tests.conftest import client_for, streamed
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db

# Per prompt number: each annotator's (side in a/b terms, strength) and the margin they make.
PLAN = {
    0: ((("a", 3), ("a", 1)), 2.0),
    1: ((("b", 2), ("b", None)), 2.0),
    2: ((("a", None), ("a", None)), 0.0),
}


def _number(text: str) -> int:
    """The pair's number in a prompt ("q question 2?") or a response ("answer one to q 2")."""
    found = re.search(r"\d+", text)
    assert found is not None
    return int(found.group())


def _export(user: Any, project: Project, **query: str) -> bytes:
    response = client_for(user).get(f"/api/projects/{project.slug}/export", query)
    assert response.status_code == 200, response.content
    return streamed(response)


def _rows(user: Any, project: Project, **query: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _export(user, project, **query).splitlines()]


def _judge_all(project: Project, users: tuple[Any, Any], plan: dict[int, Any]) -> None:
    """Each user judges every pair through the API as `plan` says."""
    for turn, user in enumerate(users):
        lease = client_for(user).post(f"/api/projects/{project.slug}/next").json()
        while lease:
            number = _number(lease["left"]["text"])
            side, strength = plan[number][0][turn]
            left_is_a = lease["left"]["text"].startswith("answer one")
            body: dict[str, Any] = {
                "choice": "left" if (side == "a") == left_is_a else "right",
                "client_id": f"{user.pk}-{number}",
            }
            if strength is not None:
                body["strength"] = strength
            url = f"/api/assignments/{lease['assignment']}/judgement?next=1"
            response = client_for(user).post(url, body, format="json")
            assert response.status_code == 201, response.json()
            lease = response.json()["next"]


@pytest.fixture
def graded(project: Project, tmp_path: Path, annotator: Any, second_annotator: Any) -> Project:
    """Three pairs, overlap 2, strength asked: judged by both annotators as PLAN says."""
    make_pairs(project, tmp_path, 3, labelled=False)
    Project.objects.filter(pk=project.pk).update(judgements_per_pair=2, ask_strength=True)
    project.refresh_from_db()
    _judge_all(project, (annotator, second_annotator), PLAN)
    assert Judgement.objects.count() == 6
    return project


def _margins(rows: list[dict[str, Any]]) -> dict[int, Any]:
    return {_number(r["prompt"]): r["margin"] for r in rows}


def test_the_margin_is_the_mean_strength_of_each_pair_s_majority(
    admin: Any, graded: Project
) -> None:
    rows = _rows(admin, graded, format="trl")
    assert all(set(r) == {"prompt", "chosen", "rejected", "margin"} for r in rows)
    assert _margins(rows) == {number: margin for number, (_, margin) in PLAN.items()}
    assert all(isinstance(r["margin"], float) for r in rows)


def test_the_parquet_margin_is_a_float_column_that_datasets_loads(
    admin: Any, graded: Project, tmp_path: Path
) -> None:
    from datasets import Value, load_dataset

    body = _export(admin, graded, format="trl", file="parquet")
    table = pq.read_table(io.BytesIO(body))
    assert table.schema.field("margin").type == pa.float64()
    path = tmp_path / "trl.parquet"
    path.write_bytes(body)
    dataset = load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path))
    assert dataset.features["margin"] == Value("float64")
    assert sorted(dataset["margin"]) == [0.0, 2.0, 2.0]


def test_an_invalidated_vote_s_strength_leaves_the_margin(admin: Any, graded: Project) -> None:
    # given pair 0's votes of strength 3 and 1; when the strength-3 vote is invalidated
    strongest = Judgement.objects.get(strength=3)
    invalidate_judgement(strongest, by=admin, reason="clicked the strongest every time")
    # then the pair's margin is the remaining vote's
    assert _margins(_rows(admin, graded, format="trl"))[0] == 1.0


def test_without_any_strength_there_is_no_margin_column(
    admin: Any, project: Project, tmp_path: Path, annotator: Any, second_annotator: Any
) -> None:
    make_pairs(project, tmp_path, 3, labelled=False)
    Project.objects.filter(pk=project.pk).update(judgements_per_pair=2)
    project.refresh_from_db()
    plain = {number: (((s, None), (s, None)), 0.0) for number, s in ((0, "a"), (1, "b"), (2, "a"))}
    _judge_all(project, (annotator, second_annotator), plain)
    rows = _rows(admin, project, format="trl")
    assert len(rows) == 3 and all(set(r) == {"prompt", "chosen", "rejected"} for r in rows)
    table = pq.read_table(io.BytesIO(_export(admin, project, format="trl", file="parquet")))
    assert table.column_names == ["prompt", "chosen", "rejected"]


def test_a_criterion_s_preferences_have_no_margin(admin: Any, graded: Project) -> None:
    # Strength grades the overall preference only: a criterion's export has no margin column.
    criteria = [{"name": "safe", "guidance": "", "required": False}]
    Project.objects.filter(pk=graded.pk).update(criteria=criteria)
    graded.refresh_from_db()
    for judgement in Judgement.objects.all():
        judgement.criteria = {"safe": judgement.choice}
        judgement.save(update_fields=["criteria"])
    rows = _rows(admin, graded, format="trl", criterion="safe")
    assert len(rows) == 3 and all("margin" not in r for r in rows)
    assert "margin" not in _rows(admin, graded, format="hh")[0]
