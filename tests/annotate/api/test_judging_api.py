from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from annotate.importing.pipeline import import_file
from annotate.models import Assignment, Judgement, Pair, PairRank, PairStatus, Project
from tests.conftest import client_for
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(project: Project, tmp_path: Path) -> Project:
    """The project with 6 pending pairs whose priorities are 0..5 (pair q-5 first)."""
    rows = pair_rows(6, labelled=False)
    rows[0]["meta"] = {"secret": "do-not-show"}
    import_file(project, write_jsonl(tmp_path / "p.jsonl", rows))
    for pair in Pair.objects.all():
        priority = float(pair.external_id.split("-")[1])
        PairRank.objects.filter(pair=pair).update(priority=priority)
    return project


def _next(user: Any, project: Project, **body: Any) -> Any:
    return client_for(user).post(f"/api/projects/{project.slug}/next", body, format="json")


def _judge(user: Any, assignment: int, choice: str = "left", **extra: Any) -> Any:
    body = {"choice": choice, "duration_ms": 1200, "client_id": str(uuid.uuid4()), **extra}
    return client_for(user).post(f"/api/assignments/{assignment}/judgement", body, format="json")


def test_it_serves_the_highest_priority_pair_blind(annotator: Any, pending: Project) -> None:
    # when
    response = _next(annotator, pending)
    # then
    body = response.json()
    assert response.status_code == 200
    assert Pair.objects.get(pk=body["pair"]).external_id == "q-5"
    assert body["prompt"][0]["content"] == "q question 5?"
    assert {body["left"]["text"], body["right"]["text"]} == {
        "answer one to q 5",
        "answer two to q 5, longer",
    }
    assert "model-x" not in response.content.decode()
    assert body["progress"] == {"mine": 0, "remaining": 6}


def test_it_returns_the_open_lease_again_and_a_second_one_for_prefetch(
    annotator: Any, pending: Project
) -> None:
    first = _next(annotator, pending).json()
    again = _next(annotator, pending).json()
    prefetched = _next(annotator, pending, after=first["assignment"]).json()
    assert again["assignment"] == first["assignment"]
    assert prefetched["assignment"] != first["assignment"]
    assert Pair.objects.get(pk=prefetched["pair"]).external_id == "q-4"


def test_it_hides_metadata_from_annotators(annotator: Any, pending: Project) -> None:
    for _ in range(6):
        body = _next(annotator, pending).json()
        assert "do-not-show" not in str(body)
        _judge(annotator, body["assignment"])


def test_it_records_duplicate_submission_once(annotator: Any, pending: Project) -> None:
    # given
    assignment = _next(annotator, pending).json()["assignment"]
    body = {"choice": "left", "duration_ms": 900, "client_id": "retry-me"}
    client = client_for(annotator)
    # when
    first = client.post(f"/api/assignments/{assignment}/judgement", body, format="json")
    second = client.post(f"/api/assignments/{assignment}/judgement", body, format="json")
    # then
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["judgement"] == second.json()["judgement"]
    assert Judgement.objects.filter(client_id="retry-me").count() == 1
    assert Pair.objects.get(assignments=assignment).judgement_count == 1


def test_it_stores_the_canonical_choice_and_the_side_shown_left(
    annotator: Any, pending: Project
) -> None:
    body = _next(annotator, pending).json()
    assignment = Assignment.objects.get(pk=body["assignment"])
    _judge(annotator, assignment.pk, "right")
    judgement = Judgement.objects.get(assignment=assignment)
    assert judgement.choice == ("b" if assignment.left_is_a else "a")
    assert judgement.shown_left == ("a" if assignment.left_is_a else "b")
    winner = assignment.pair.response_a if judgement.choice == "a" else assignment.pair.response_b
    assert winner.text == body["right"]["text"]


def test_it_refuses_a_second_different_judgement_with_409(annotator: Any, pending: Project) -> None:
    assignment = _next(annotator, pending).json()["assignment"]
    assert _judge(annotator, assignment, "left").status_code == 201
    response = _judge(annotator, assignment, "right")
    assert response.status_code == 409
    assert Judgement.objects.count() == 1


@pytest.mark.parametrize(
    ("settings_", "body", "field"),
    [
        ({"allow_tie": False}, {"choice": "tie"}, "choice"),
        ({"allow_both_bad": False}, {"choice": "both_bad"}, "choice"),
        ({"ask_rationale": "required"}, {"choice": "left"}, "rationale"),
        ({}, {"choice": "sideways"}, "choice"),
        ({"ask_strength": True}, {"choice": "left", "strength": 7}, "strength"),
    ],
)
def test_it_rejects_what_the_project_does_not_accept(
    annotator: Any, pending: Project, settings_: dict, body: dict, field: str
) -> None:
    Project.objects.filter(pk=pending.pk).update(**settings_)
    assignment = _next(annotator, pending).json()["assignment"]
    response = _judge(annotator, assignment, **body)
    assert response.status_code == 400
    assert field in response.json()
    assert Judgement.objects.count() == 0


def test_it_keeps_strength_and_rationale_when_asked(annotator: Any, pending: Project) -> None:
    Project.objects.filter(pk=pending.pk).update(ask_strength=True, ask_rationale="optional")
    assignment = _next(annotator, pending).json()["assignment"]
    _judge(annotator, assignment, "left", strength=3, rationale=" clearer ")
    judgement = Judgement.objects.get()
    assert (judgement.strength, judgement.rationale) == (3, "clearer")


def test_an_expired_lease_is_accepted_while_its_slot_is_free(
    annotator: Any, second_annotator: Any, pending: Project
) -> None:
    Pair.objects.exclude(external_id="q-5").delete()
    assignment = _next(annotator, pending).json()["assignment"]
    Assignment.objects.filter(pk=assignment).update(expires_at=timezone.now() - timedelta(1))
    assert _judge(annotator, assignment).status_code == 201


def test_an_expired_lease_whose_slot_was_taken_is_refused(
    annotator: Any, second_annotator: Any, pending: Project
) -> None:
    # given: bob's lease expires and carol takes the only slot
    Pair.objects.exclude(external_id="q-5").delete()
    assignment = _next(annotator, pending).json()["assignment"]
    Assignment.objects.filter(pk=assignment).update(expires_at=timezone.now() - timedelta(1))
    carol = _next(second_annotator, pending).json()
    # when
    response = _judge(annotator, assignment)
    # then
    assert response.status_code == 409
    assert _judge(second_annotator, carol["assignment"]).status_code == 201
    assert Pair.objects.get().status == PairStatus.COMPLETE


def test_overlap_gives_each_pair_to_k_distinct_annotators(
    admin: Any, annotator: Any, second_annotator: Any, pending: Project
) -> None:
    Project.objects.filter(pk=pending.pk).update(judgements_per_pair=2)
    Pair.objects.exclude(external_id="q-5").delete()
    first, second = _next(annotator, pending).json(), _next(second_annotator, pending).json()
    assert first["pair"] == second["pair"]
    assert _next(admin, pending).status_code == 204
    _judge(annotator, first["assignment"])
    assert Pair.objects.get().status == PairStatus.PENDING
    _judge(second_annotator, second["assignment"])
    assert Pair.objects.get().status == PairStatus.COMPLETE


def test_a_skipped_pair_is_not_offered_again(annotator: Any, pending: Project) -> None:
    first = _next(annotator, pending).json()
    skipped = client_for(annotator).post(f"/api/assignments/{first['assignment']}/skip")
    assert skipped.json()["outcome"] == "skipped"
    served = {_next(annotator, pending).json()["pair"]}
    assert first["pair"] not in served
    assert Assignment.objects.get(pk=first["assignment"]).outcome == "skipped"


def test_it_answers_204_when_nothing_is_left(annotator: Any, pending: Project) -> None:
    for _ in range(6):
        _judge(annotator, _next(annotator, pending).json()["assignment"])
    assert _next(annotator, pending).status_code == 204


def test_next_and_judgement_take_a_fixed_number_of_queries(
    annotator: Any, pending: Project, django_assert_max_num_queries: Any
) -> None:
    client = client_for(annotator)
    _next(annotator, pending)  # warm caches (content types, sessions)
    with django_assert_max_num_queries(7):
        body = client.post(f"/api/projects/{pending.slug}/next", {"after": 0}, format="json").json()
    with django_assert_max_num_queries(13):
        _judge(annotator, body["assignment"])


@pytest.mark.parametrize(("persona", "expected"), [("outsider", 404), ("anonymous", 401)])
def test_it_denies_next_to_non_members(
    request: pytest.FixtureRequest, pending: Project, persona: str, expected: int
) -> None:
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    assert _next(user, pending).status_code == expected


def test_it_denies_judging_someone_elses_assignment(
    annotator: Any, second_annotator: Any, outsider: Any, pending: Project
) -> None:
    assignment = _next(annotator, pending).json()["assignment"]
    assert _judge(second_annotator, assignment).status_code == 404
    assert _judge(outsider, assignment).status_code == 404
    assert Judgement.objects.count() == 0


def test_stats_show_everyone_to_admins_and_only_yourself_to_annotators(
    admin: Any, annotator: Any, second_annotator: Any, pending: Project
) -> None:
    _judge(annotator, _next(annotator, pending).json()["assignment"])
    _judge(second_annotator, _next(second_annotator, pending).json()["assignment"])
    as_admin = client_for(admin).get(f"/api/projects/{pending.slug}/stats").json()
    as_bob = client_for(annotator).get(f"/api/projects/{pending.slug}/stats").json()
    assert (as_admin["pending"], as_admin["complete"], as_admin["judgements"]) == (4, 2, 2)
    assert [a["annotator"] for a in as_admin["annotators"]] == ["bob", "carol"]
    assert as_bob["annotators"] == [{"annotator": "bob", "judgements": 1}]
