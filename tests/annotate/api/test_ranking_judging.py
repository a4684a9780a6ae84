"""Judging through the API beyond one pairwise choice: ranking items, criteria, ratings and
edits; the payload is refused with a 400 naming the field when the project cannot take it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Assignment, Judgement, Pair, Project, RankedResponse, Response
from annotate.projects.members import set_member
from tests.conftest import client_for
from tests.factories import make_pairs, make_project, write_jsonl

pytestmark = pytest.mark.django_db

HELPFUL = {"name": "helpful", "guidance": "", "required": True}
SAFE = {"name": "safe", "guidance": "", "required": False}


def _ranking_project(
    tmp_path: Path, annotator: Any, *, prompts: int = 2, n: int = 4, **options: Any
) -> Project:
    project = make_project("ranked", comparison="ranking", max_ranked=4, **options)
    set_member(project, username=annotator.username, role="annotator")
    rows = [
        {"prompt": f"question {p}?", "responses": [f"answer {i} to {p}" for i in range(n)]}
        for p in range(prompts)
    ]
    import_file(project, write_jsonl(tmp_path / "ranked.jsonl", rows))
    return project


def _next(user: Any, project: Project, **body: Any) -> Any:
    return client_for(user).post(f"/api/projects/{project.slug}/next", body, format="json")


def _judge(user: Any, assignment: int, *, query: str = "", **body: Any) -> Any:
    body.setdefault("client_id", str(uuid.uuid4()))
    url = f"/api/assignments/{assignment}/judgement{query}"
    return client_for(user).post(url, body, format="json")


def _ids(lease: dict[str, Any]) -> list[int]:
    return [r["id"] for r in lease["responses"]]


def test_next_answers_a_ranking_item_in_a_recorded_display_order(
    annotator: Any, tmp_path: Path
) -> None:
    # given
    project = _ranking_project(tmp_path, annotator)
    # when
    lease = _next(annotator, project).json()
    # then
    assignment = Assignment.objects.get(pk=lease["assignment"])
    item = RankedResponse.objects.filter(pair_id=lease["pair"])
    assert "left" not in lease and "right" not in lease
    assert _ids(lease) == assignment.shown_order
    assert sorted(_ids(lease)) == sorted(item.values_list("response_id", flat=True))
    assert [r["text"] for r in lease["responses"]] == [
        Response.objects.get(pk=rid).text for rid in _ids(lease)
    ]
    pair = assignment.pair
    shown = assignment.shown_order
    assert assignment.left_is_a == (
        shown.index(pair.response_a_id) < shown.index(pair.response_b_id)
    )
    assert lease["comparison"] == "ranking"
    assert lease["prompt"][0]["content"].startswith("question")


def test_it_records_a_ranking_with_ties_and_its_implied_choice(
    annotator: Any, tmp_path: Path
) -> None:
    # given
    project = _ranking_project(tmp_path, annotator)
    lease = _next(annotator, project).json()
    pair = Pair.objects.get(pk=lease["pair"])
    others = [r for r in _ids(lease) if r not in (pair.response_a_id, pair.response_b_id)]
    ranking = [[pair.response_b_id], [others[1], pair.response_a_id], [others[0]]]
    # when
    response = _judge(annotator, lease["assignment"], ranking=ranking, client_id="r1")
    # then
    assert response.status_code == 201, response.json()
    judgement = Judgement.objects.get()
    assert judgement.ranking == [ranking[0], sorted(ranking[1]), ranking[2]]
    assert judgement.choice == "b"  # the item's b is ranked above its a
    assert response.json()["ranking"] == judgement.ranking
    assert judgement.shown_left == ("a" if Assignment.objects.get().left_is_a else "b")
    assert Pair.objects.get(pk=pair.pk).judgement_count == 1


def test_a_tie_of_the_item_pair_is_a_tie_and_a_retry_is_recorded_once(
    annotator: Any, tmp_path: Path
) -> None:
    project = _ranking_project(tmp_path, annotator)
    lease = _next(annotator, project).json()
    pair = Pair.objects.get(pk=lease["pair"])
    rest = [[r] for r in _ids(lease) if r not in (pair.response_a_id, pair.response_b_id)]
    ranking = [*rest, [pair.response_a_id, pair.response_b_id]]
    first = _judge(annotator, lease["assignment"], ranking=ranking, client_id="same")
    again = _judge(annotator, lease["assignment"], ranking=ranking, client_id="same")
    other = _judge(annotator, lease["assignment"], ranking=ranking[::-1], client_id="same")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json()["judgement"] == first.json()["judgement"]
    assert Judgement.objects.get().choice == "tie"


def test_a_judgement_with_next_answers_the_next_ranking_item(
    annotator: Any, tmp_path: Path
) -> None:
    project = _ranking_project(tmp_path, annotator)
    lease = _next(annotator, project).json()
    response = _judge(
        annotator, lease["assignment"], query="?next=1", ranking=[[r] for r in _ids(lease)]
    )
    following = response.json()["next"]
    assert response.status_code == 201
    assert following["pair"] != lease["pair"]
    assert len(following["responses"]) == 4


def _bad_ranking_cases(ids: list[int]) -> list[tuple[dict[str, Any], str, str]]:
    a, b, c, d = ids
    return [
        ({"ranking": [[a], [b], [c]]}, "ranking", f"leaves out response(s) {d}"),
        ({"ranking": [[a], [b, a], [c], [d]]}, "ranking", f"response {a} is ranked twice"),
        ({"ranking": [[a], [b], [c], [d], [999999]]}, "ranking", "999999 is not one of"),
        ({"ranking": [[a], [], [b, c, d]]}, "ranking", "non-empty list"),
        ({"ranking": "abcd"}, "ranking", "groups of response ids"),
        ({}, "ranking", "is required"),
        ({"choice": "left", "ranking": [[a, b, c, d]]}, "choice", "takes a ranking"),
        ({"ranking": [[a, b, c, d]], "criteria": {"fun": [[a, b, c, d]]}}, "criteria", "'fun'"),
        ({"ranking": [[a, b, c, d]]}, "criteria", "'helpful' is required"),
        (
            {"ranking": [[a, b, c, d]], "criteria": {"helpful": [[a], [b]]}},
            "criteria.helpful",
            "leaves out",
        ),
        (
            {
                "ranking": [[a, b, c, d]],
                "criteria": {"helpful": [[a, b, c, d]]},
                "ratings": {str(a): 6},
            },
            "ratings",
            "6 is not on this project's scale",
        ),
        (
            {"ranking": [[a], [b, c, d]], "criteria": {"helpful": [[a, b, c, d]]}, "edit": "x"},
            "edit",
            "does not take edits",
        ),
    ]


def test_it_refuses_a_bad_ranking_payload_naming_the_field(annotator: Any, tmp_path: Path) -> None:
    # given a ranking project with a required criterion and a 1-5 rating
    project = _ranking_project(
        tmp_path, annotator, criteria=[HELPFUL], rating_scale=[1, 2, 3, 4, 5]
    )
    lease = _next(annotator, project).json()
    for body, field, message in _bad_ranking_cases(sorted(_ids(lease))):
        # when
        response = _judge(annotator, lease["assignment"], **body)
        # then
        assert response.status_code == 400, (body, response.json())
        assert list(response.json()) == [field], body
        assert message in response.json()[field][0], (body, response.json())
    assert not Judgement.objects.exists()


def test_it_records_criteria_rankings_and_ratings_on_a_ranking_item(
    annotator: Any, tmp_path: Path
) -> None:
    project = _ranking_project(
        tmp_path, annotator, criteria=[HELPFUL, SAFE], rating_scale=["bad", "ok", "good"]
    )
    lease = _next(annotator, project).json()
    a, b, c, d = _ids(lease)
    response = _judge(
        annotator,
        lease["assignment"],
        ranking=[[a], [b], [c], [d]],
        criteria={"helpful": [[b], [a], [c, d]]},
        ratings={str(a): "good", str(d): "bad"},
    )
    assert response.status_code == 201, response.json()
    judgement = Judgement.objects.get()
    assert judgement.criteria == {"helpful": [[b], [a], sorted([c, d])]}
    assert judgement.ratings == {str(a): "good", str(d): "bad"}


def test_a_ranking_project_without_ties_refuses_a_group(annotator: Any, tmp_path: Path) -> None:
    project = _ranking_project(tmp_path, annotator, allow_tie=False)
    lease = _next(annotator, project).json()
    a, b, c, d = _ids(lease)
    response = _judge(annotator, lease["assignment"], ranking=[[a], [b, c], [d]])
    assert response.status_code == 400
    assert response.json() == {"ranking": ["this project does not allow ties"]}


# ---------------------------------------------------------------- pairwise projects


@pytest.fixture
def rich_pairs(project: Project, tmp_path: Path) -> Project:
    """The project with three pending pairs, a required and an optional criterion, a 1-5
    rating and optional edits."""
    make_pairs(project, tmp_path, 3, labelled=False)
    Project.objects.filter(pk=project.pk).update(
        criteria=[HELPFUL, SAFE], rating_scale=[1, 2, 3, 4, 5], edits="optional"
    )
    project.refresh_from_db()
    return project


def test_a_pairwise_judgement_carries_criteria_ratings_and_an_edit_in_canonical_terms(
    annotator: Any, rich_pairs: Project
) -> None:
    # given
    lease = _next(annotator, rich_pairs).json()
    assignment = Assignment.objects.get(pk=lease["assignment"])
    pair = assignment.pair
    left_id = pair.response_a_id if assignment.left_is_a else pair.response_b_id
    right_id = pair.response_b_id if assignment.left_is_a else pair.response_a_id
    # when the annotator prefers the left, finds the right more helpful, rates and edits
    response = _judge(
        annotator,
        lease["assignment"],
        choice="left",
        criteria={"helpful": "right", "safe": "tie"},
        ratings={"left": 4, "right": 2},
        edit=lease["left"]["text"] + " And a better ending.",
    )
    # then
    assert response.status_code == 201, response.json()
    judgement = Judgement.objects.get()
    right = "b" if assignment.left_is_a else "a"
    assert judgement.choice == ("a" if assignment.left_is_a else "b")
    assert judgement.criteria == {"helpful": right, "safe": "tie"}
    assert judgement.ratings == {str(left_id): 4, str(right_id): 2}
    assert judgement.edit is not None
    assert judgement.edit.text == lease["left"]["text"] + " And a better ending."
    assert (judgement.edit.parent_id, judgement.edit.author) == (left_id, annotator)
    assert judgement.edit.prompt_id == pair.prompt_id
    assert lease["criteria"] == [HELPFUL, SAFE] and lease["rating_scale"] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"choice": "left"}, "criteria", "'helpful' is required"),
        ({"choice": "left", "criteria": {"helpful": "up"}}, "criteria", "must be one of"),
        ({"choice": "left", "criteria": {"helpful": "left", "kind": "left"}}, "criteria", "'kind'"),
        ({"choice": "left", "criteria": ["helpful"]}, "criteria", "must be an object"),
        ({"criteria": {"helpful": "left"}}, "choice", "is required"),
        (
            {"choice": "left", "criteria": {"helpful": "left"}, "ratings": {"left": 0}},
            "ratings",
            "0 is not on this project's scale",
        ),
        (
            {"choice": "left", "criteria": {"helpful": "left"}, "ratings": {"middle": 3}},
            "ratings",
            "'middle' is not one of the responses shown",
        ),
        ({"choice": "left", "criteria": {"helpful": "left"}, "edit": "  "}, "edit", "is empty"),
        ({"choice": "tie", "criteria": {"helpful": "left"}, "edit": "x"}, "edit", "one best"),
        (
            {"choice": "left", "criteria": {"helpful": "left"}, "ranking": [[1], [2]]},
            "ranking",
            "compares pairs",
        ),
    ],
)
def test_it_refuses_a_bad_pairwise_payload_naming_the_field(
    annotator: Any, rich_pairs: Project, body: dict[str, Any], field: str, message: str
) -> None:
    lease = _next(annotator, rich_pairs).json()
    response = _judge(annotator, lease["assignment"], **body)
    assert response.status_code == 400, response.json()
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]
    assert not Judgement.objects.exists()


def test_an_edit_the_same_as_the_response_is_refused(annotator: Any, rich_pairs: Project) -> None:
    lease = _next(annotator, rich_pairs).json()
    body = {"choice": "right", "criteria": {"helpful": "left"}, "edit": lease["right"]["text"]}
    response = _judge(annotator, lease["assignment"], **body)
    assert response.status_code == 400
    assert response.json() == {"edit": ["is the same as the response it improves"]}
    assert Response.objects.filter(parent__isnull=False).count() == 0


def test_a_required_edit_is_required_when_one_response_is_better(
    annotator: Any, rich_pairs: Project
) -> None:
    Project.objects.filter(pk=rich_pairs.pk).update(edits="required", criteria=[])
    lease = _next(annotator, rich_pairs).json()
    refused = _judge(annotator, lease["assignment"], choice="left")
    tie = _judge(annotator, lease["assignment"], choice="tie")
    assert refused.status_code == 400
    assert list(refused.json()) == ["edit"]
    assert tie.status_code == 201


def test_a_plain_pairwise_project_refuses_what_it_does_not_ask(
    annotator: Any, project: Project, tmp_path: Path
) -> None:
    make_pairs(project, tmp_path, 2, labelled=False)
    lease = _next(annotator, project).json()
    assert "criteria" not in lease and "comparison" not in lease
    for body, field in (
        ({"choice": "left", "criteria": {"helpful": "left"}}, "criteria"),
        ({"choice": "left", "ratings": {"left": 1}}, "ratings"),
        ({"choice": "left", "edit": "better"}, "edit"),
        ({"choice": "left", "edit": ""}, "edit"),
    ):
        response = _judge(annotator, lease["assignment"], **body)
        assert response.status_code == 400, body
        assert list(response.json()) == [field]
