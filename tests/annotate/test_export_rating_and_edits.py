"""The trl export's `min_chosen_rating` (rows whose winner is still rated badly leave) and
`with_edits` (each edit beats every response of the item it was made on), through the API,
the page and the command line."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from annotate.importing.pipeline import import_file
from annotate.models import Judgement, Project
from annotate.projects.members import set_member
from annotate.review.actions import invalidate_judgement
from tests.conftest import client_for, streamed
from tests.factories import make_pairs, make_project, write_jsonl

pytestmark = pytest.mark.django_db

Row = tuple[str, str, str]


def _export(user: Any, project: Project, **query: str) -> Any:
    return client_for(user).get(f"/api/projects/{project.slug}/export", query)


def _rows(user: Any, project: Project, **query: str) -> Counter[Row]:
    """The export's (prompt, chosen, rejected) rows, counted."""
    response = _export(user, project, **query)
    assert response.status_code == 200, response.content
    body = streamed(response)
    if query.get("file") == "parquet":
        rows = pq.read_table(io.BytesIO(body)).to_pylist()
    else:
        rows = [json.loads(line) for line in body.splitlines()]
    return Counter((r["prompt"], r["chosen"], r["rejected"]) for r in rows)


def _text(side: str, number: int) -> str:
    """The factory's response texts: a is "answer one", b "answer two"."""
    return f"answer one to q {number}" if side == "a" else f"answer two to q {number}, longer"


def _row(number: int, chosen: str, rejected: str) -> Row:
    return (f"q question {number}?", chosen, rejected)


def _judge_all(user: Any, project: Project, plan: dict[int, dict[str, Any]]) -> None:
    """The user judges every pair it is given through the API: per pair number, the side
    (a/b) chosen, ratings by side and an edit of the chosen response."""
    lease = client_for(user).post(f"/api/projects/{project.slug}/next").json()
    while lease:
        found = re.search(r"\d+", lease["left"]["text"])
        assert found is not None
        number = int(found.group())
        step = plan[number]
        left = "a" if lease["left"]["text"].startswith("answer one") else "b"
        seen = {left: "left", ("b" if left == "a" else "a"): "right"}
        body: dict[str, Any] = {"choice": seen[step["side"]], "client_id": f"{user.pk}-{number}"}
        if "ratings" in step:
            body["ratings"] = {seen[side]: value for side, value in step["ratings"].items()}
        if "edit" in step:
            body["edit"] = step["edit"]
        url = f"/api/assignments/{lease['assignment']}/judgement?next=1"
        response = client_for(user).post(url, body, format="json")
        assert response.status_code == 201, response.json()
        lease = response.json()["next"]


EDIT = "answer one to q 0, fixed"
# Pair 0's winner is rated 1 of 5 and improved; pair 1's is rated 4; pair 2's is not rated.
PLAN: dict[int, dict[str, Any]] = {
    0: {"side": "a", "ratings": {"a": 1, "b": 2}, "edit": EDIT},
    1: {"side": "b", "ratings": {"a": 1, "b": 4}},
    2: {"side": "a"},
}
MAJORITY = Counter([_row(0, _text("a", 0), _text("b", 0))]) + Counter(
    [_row(1, _text("b", 1), _text("a", 1)), _row(2, _text("a", 2), _text("b", 2))]
)
EDIT_ROWS = Counter([_row(0, EDIT, _text("a", 0)), _row(0, EDIT, _text("b", 0))])


@pytest.fixture
def judged(project: Project, tmp_path: Path, annotator: Any) -> Project:
    """Three pairs on a 1-5 scale with optional edits, judged by one annotator as PLAN says."""
    make_pairs(project, tmp_path, 3, labelled=False)
    Project.objects.filter(pk=project.pk).update(rating_scale=[1, 2, 3, 4, 5], edits="optional")
    project.refresh_from_db()
    _judge_all(annotator, project, PLAN)
    return project


@pytest.mark.parametrize("file", ["jsonl", "parquet"])
def test_a_pair_whose_winner_is_rated_below_the_threshold_leaves(
    admin: Any, judged: Project, file: str
) -> None:
    # when exported with and without a threshold of 3
    plain = _rows(admin, judged, format="trl", file=file)
    kept = _rows(admin, judged, format="trl", file=file, min_chosen_rating="3")
    # then pair 0 (winner rated 1) leaves; pair 1 (rated 4) and pair 2 (unrated) stay
    assert plain == MAJORITY
    assert kept == MAJORITY - Counter([_row(0, _text("a", 0), _text("b", 0))])
    # and a threshold at the scale's bottom keeps everything; hh leaves the same pair
    assert _rows(admin, judged, format="trl", file=file, min_chosen_rating="1") == MAJORITY
    hh = _export(admin, judged, format="hh", file=file, min_chosen_rating="3")
    assert hh.status_code == 200
    body = streamed(hh)
    dialogues = (
        pq.read_table(io.BytesIO(body)).to_pylist()
        if file == "parquet"
        else [json.loads(line) for line in body.splitlines()]
    )
    assert len(dialogues) == 2
    assert not any("q question 0?" in d["chosen"] for d in dialogues)


def test_the_threshold_reads_the_mean_of_the_winner_s_ratings(
    admin: Any, annotator: Any, second_annotator: Any, tmp_path: Path
) -> None:
    # given one pair both annotators choose a, rating it 1 and 5 (mean 3)
    project = make_project("two", admin=admin)
    for user in (annotator, second_annotator):
        set_member(project, username=user.username, role="annotator")
    make_pairs(project, tmp_path, 1, labelled=False)
    Project.objects.filter(pk=project.pk).update(
        rating_scale=[1, 2, 3, 4, 5], judgements_per_pair=2
    )
    project.refresh_from_db()
    _judge_all(annotator, project, {0: {"side": "a", "ratings": {"a": 1}}})
    _judge_all(second_annotator, project, {0: {"side": "a", "ratings": {"a": 5}}})
    assert Judgement.objects.count() == 2
    # then the pair stays at 3 and leaves at 4
    assert len(_rows(admin, project, format="trl", min_chosen_rating="3")) == 1
    assert len(_rows(admin, project, format="trl", min_chosen_rating="4")) == 0


@pytest.mark.parametrize("value", ["6", "0", "good", "3.0"])
def test_a_value_off_the_scale_is_a_400_naming_the_field(
    admin: Any, judged: Project, value: str
) -> None:
    api = _export(admin, judged, format="trl", min_chosen_rating=value)
    assert api.status_code == 400
    assert "not on this project's rating scale" in api.json()["min_chosen_rating"][0]
    page = Client()
    page.force_login(admin)
    answer = page.get(
        f"/projects/{judged.slug}/export", {"format": "trl", "min_chosen_rating": value}
    )
    assert answer.status_code == 400
    assert answer.content.decode().startswith("min_chosen_rating: ")


def test_a_threshold_on_a_project_without_a_scale_is_a_400(
    admin: Any, project: Project, tmp_path: Path
) -> None:
    make_pairs(project, tmp_path, 1)
    answer = _export(admin, project, format="trl", min_chosen_rating="3")
    assert answer.status_code == 400
    assert answer.json()["min_chosen_rating"] == ["this project has no rating scale"]


@pytest.mark.parametrize("file", ["jsonl", "parquet"])
def test_with_edits_each_edit_beats_both_responses_of_its_pair(
    admin: Any, judged: Project, file: str
) -> None:
    assert _rows(admin, judged, format="trl", file=file) == MAJORITY
    assert _rows(admin, judged, format="trl", file=file, with_edits="true") == (
        MAJORITY + EDIT_ROWS
    )
    # the edit is not rated where it was made, so a threshold keeps its rows
    edited = _rows(admin, judged, format="trl", file=file, with_edits="true", min_chosen_rating="3")
    assert edited == MAJORITY - Counter([_row(0, _text("a", 0), _text("b", 0))]) + EDIT_ROWS


def test_an_edit_review_found_wanting_leaves_with_its_rows(admin: Any, judged: Project) -> None:
    # given the edit's judgement; when review invalidates the edit alone
    edited = Judgement.objects.exclude(edit=None).get()
    invalidate_judgement(edited, by=admin, reason="made it worse", part="edit")
    # then its rows leave and the judgement's choice still counts
    assert _rows(admin, judged, format="trl", with_edits="true") == MAJORITY


def test_the_same_edit_from_two_judgements_is_one_set_of_rows(
    admin: Any, annotator: Any, second_annotator: Any, tmp_path: Path
) -> None:
    # given one pair both annotators choose a and improve the same way
    project = make_project("twice", admin=admin)
    for user in (annotator, second_annotator):
        set_member(project, username=user.username, role="annotator")
    make_pairs(project, tmp_path, 1, labelled=False)
    Project.objects.filter(pk=project.pk).update(edits="optional", judgements_per_pair=2)
    project.refresh_from_db()
    for user in (annotator, second_annotator):
        _judge_all(user, project, {0: {"side": "a", "edit": EDIT}})
    assert Judgement.objects.exclude(edit=None).count() == 2
    # then
    assert _rows(admin, project, format="trl", with_edits="true") == (
        Counter([_row(0, _text("a", 0), _text("b", 0))]) + EDIT_ROWS
    )


def test_the_same_edit_on_two_pairs_beats_their_shared_response_once(
    admin: Any, annotator: Any, project: Project, tmp_path: Path
) -> None:
    # given two pairs of one prompt sharing x, x chosen and improved the same way in both
    rows = [
        {"id": "xy", "prompt": "p?", "response_a": "x", "response_b": "y"},
        {"id": "xz", "prompt": "p?", "response_a": "x", "response_b": "z"},
    ]
    import_file(project, write_jsonl(tmp_path / "shared.jsonl", rows))
    Project.objects.filter(pk=project.pk).update(edits="optional")
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    while lease:
        side = "left" if lease["left"]["text"] == "x" else "right"
        body = {"client_id": f"e-{lease['assignment']}", "choice": side, "edit": "x+"}
        url = f"/api/assignments/{lease['assignment']}/judgement?next=1"
        answer = client_for(annotator).post(url, body, format="json")
        assert answer.status_code == 201, answer.json()
        lease = answer.json()["next"]
    assert Judgement.objects.exclude(edit=None).values("edit").distinct().count() == 1
    # then x+ beats x once, and y and z
    assert _rows(admin, project, format="trl", with_edits="true") == Counter(
        [
            ("p?", "x", "y"),
            ("p?", "x", "z"),
            ("p?", "x+", "x"),
            ("p?", "x+", "y"),
            ("p?", "x+", "z"),
        ]
    )


def test_a_ranking_s_edit_beats_every_response_of_its_item(
    admin: Any, annotator: Any, tmp_path: Path
) -> None:
    # given one item of three responses ranked x > y > z, x improved
    project = make_project("ranked", comparison="ranking", edits="optional", admin=admin)
    set_member(project, username=annotator.username, role="annotator")
    import_file(
        project, write_jsonl(tmp_path / "r.jsonl", [{"prompt": "p?", "responses": ["x", "y", "z"]}])
    )
    lease = client_for(annotator).post(f"/api/projects/{project.slug}/next").json()
    ids = {r["text"]: r["id"] for r in lease["responses"]}
    body = {"client_id": "r-1", "ranking": [[ids["x"]], [ids["y"]], [ids["z"]]], "edit": "x+"}
    answer = client_for(annotator).post(
        f"/api/assignments/{lease['assignment']}/judgement", body, format="json"
    )
    assert answer.status_code == 201, answer.json()
    # then
    decisive = Counter([("p?", "x", "y"), ("p?", "x", "z"), ("p?", "y", "z")])
    assert _rows(admin, project, format="trl") == decisive
    edits = Counter([("p?", "x+", "x"), ("p?", "x+", "y"), ("p?", "x+", "z")])
    assert _rows(admin, project, format="trl", with_edits="true") == decisive + edits


def test_the_command_takes_both_options(admin: Any, judged: Project, tmp_path: Path) -> None:
    out = tmp_path / "trl.parquet"
    call_command(
        "export_preferences",
        judged.slug,
        "--format",
        "trl",
        "--output",
        str(out),
        "--min-chosen-rating",
        "3",
        "--with-edits",
    )
    rows = pq.read_table(out).to_pylist()
    assert Counter((r["prompt"], r["chosen"], r["rejected"]) for r in rows) == (
        MAJORITY - Counter([_row(0, _text("a", 0), _text("b", 0))]) + EDIT_ROWS
    )
    with pytest.raises(CommandError, match="not on this project's rating scale"):
        call_command(
            "export_preferences", judged.slug, "--format", "trl", "--min-chosen-rating", "9"
        )
