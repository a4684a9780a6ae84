"""The reward model trains on rankings through their implied pairs, grouped per item, on the
overall preference or one criterion, with the judgements' strengths for the margin loss."""

from __future__ import annotations

from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client

from annotate.importing.pipeline import import_file
from annotate.judging.shapes import implied_choice
from annotate.models import Judgement, Pair, Project, Response
from annotate.projects.members import set_member
from rewards.external import measure_external_model
from rewards.models import ResponseScore, RewardModel, TrainingRun
from rewards.pair_ids import item_of, responses_of
from rewards.random_slice import split_by_lease_kind
from rewards.worker.snapshot import snapshot_project
from tests.conftest import client_for
from tests.factories import item_response_ids, judged_lease, make_pairs, make_project, write_jsonl

pytestmark = pytest.mark.django_db

CRITERIA = [{"name": "safe", "guidance": "no harm done", "required": False}]


@pytest.fixture
def ranked(admin: Any, annotator: Any, second_annotator: Any) -> Project:
    project = make_project(
        "ranked", comparison="ranking", max_ranked=4, criteria=CRITERIA, admin=admin
    )
    for user in (annotator, second_annotator):
        set_member(project, username=user.username, role="annotator")
    return project


def _items(project: Project, tmp_path: Path, n: int) -> list[Pair]:
    """n ranking items of four responses each: "p{i} r0" .. "p{i} r3", in that order."""
    rows = [{"prompt": f"p{i}?", "responses": [f"p{i} r{k}" for k in range(4)]} for i in range(n)]
    import_file(project, write_jsonl(tmp_path / f"items-{n}.jsonl", rows))
    return list(Pair.objects.filter(project=project).order_by("pk"))


def _rank(
    pair: Pair,
    user: Any,
    order: list[list[int]],
    *,
    criteria: dict[str, Any] | None = None,
    strength: int | None = None,
    in_slice: bool | None = None,
) -> Judgement:
    """A ranking of the item's responses by their places (0 first) in item order."""
    ranking = _as_ranking(pair, order)
    lease = None
    if in_slice is not None:
        lease = judged_lease(pair, user, random_slice=in_slice)
    return Judgement.objects.create(
        pair=pair,
        annotator=user,
        assignment=lease,
        choice=implied_choice(ranking, pair.response_a_id, pair.response_b_id),
        ranking=ranking,
        criteria=criteria,
        strength=strength,
        client_id=f"{user.pk}-{pair.pk}",
    )


def _as_ranking(pair: Pair, order: list[list[int]]) -> list[list[int]]:
    ids = item_response_ids(pair)
    return [sorted(ids[k] for k in group) for group in order]


def _preferred(pairs: list[Any]) -> set[tuple[str, str]]:
    """(better text, worse text) of each training pair."""
    return {(p.a, p.b) if p.label == "a" else (p.b, p.a) for p in pairs}


def test_a_ranking_trains_as_its_decisive_pairs_ties_left_out(
    ranked: Project, annotator: Any, tmp_path: Path
) -> None:
    # given one item ranked r0 > r1 = r2 > r3
    (item,) = _items(ranked, tmp_path, 1)
    _rank(item, annotator, [[0], [1, 2], [3]])
    # when
    snapshot = snapshot_project(ranked)
    pairs = snapshot.train + snapshot.validation
    # then it trains as the five decisive pairs; the tie r1 = r2 is not among them
    assert _preferred(pairs) == {
        ("p0 r0", "p0 r1"),
        ("p0 r0", "p0 r2"),
        ("p0 r0", "p0 r3"),
        ("p0 r1", "p0 r3"),
        ("p0 r2", "p0 r3"),
    }
    assert len(pairs) == 5 and snapshot.judgements == 1
    # and each pair's id names its item and its two responses
    texts = dict(Response.objects.values_list("pk", "text"))
    for p in pairs:
        assert item_of(p.id) == item.pk
        assert [texts[rid] for rid in responses_of(p.id) or ()] == [p.a, p.b]


def test_each_implied_pair_is_decided_by_the_majority_of_the_rankings(
    ranked: Project, annotator: Any, second_annotator: Any, tmp_path: Path
) -> None:
    # given two annotators who agree on everything but r0 against r1
    (item,) = _items(ranked, tmp_path, 1)
    _rank(item, annotator, [[0], [1], [2], [3]])
    _rank(item, second_annotator, [[1], [0], [2], [3]])
    # when
    snapshot = snapshot_project(ranked)
    # then the split pair is left out and every other pair trains once
    preferred = _preferred(snapshot.train + snapshot.validation)
    assert ("p0 r0", "p0 r1") not in preferred and ("p0 r1", "p0 r0") not in preferred
    assert len(preferred) == len(snapshot.train + snapshot.validation) == 5
    assert snapshot.judgements == 2


def test_an_items_pairs_share_its_side_of_the_split_run_after_run(
    ranked: Project, annotator: Any, tmp_path: Path
) -> None:
    # given 60 ranked items
    for item in _items(ranked, tmp_path, 60):
        _rank(item, annotator, [[0], [1], [2], [3]])
    # when the project is snapshotted twice
    first, second = snapshot_project(ranked), snapshot_project(ranked)
    # then every item lies wholly on one side, both sides hold items, and the split is stable
    train = Counter(item_of(p.id) for p in first.train)
    validation = Counter(item_of(p.id) for p in first.validation)
    assert train and validation and not set(train) & set(validation)
    assert set(train.values()) == set(validation.values()) == {6}
    assert [p.id for p in second.validation] == [p.id for p in first.validation]


def test_a_criterion_trains_on_that_criterions_votes(
    ranked: Project, annotator: Any, second_annotator: Any, tmp_path: Path
) -> None:
    # given rankings whose "safe" votes reverse the overall order
    first, second = _items(ranked, tmp_path, 2)
    overall, reverse = [[0], [1], [2], [3]], [[3], [2], [1], [0]]
    _rank(first, annotator, overall, criteria={"safe": _as_ranking(first, reverse)})
    _rank(second, annotator, overall, criteria={"safe": _as_ranking(second, reverse)})
    # and one of them whose "safe" vote review invalidated
    Judgement.objects.filter(pair=second).update(invalid_criteria=["safe"])
    # when
    on_overall = snapshot_project(ranked)
    on_safe = snapshot_project(ranked, criterion="safe")
    # then the overall pairs follow the rankings, the criterion's pairs its votes
    assert ("p0 r0", "p0 r3") in _preferred(on_overall.train + on_overall.validation)
    assert len(on_overall.train + on_overall.validation) == 12
    safe = on_safe.train + on_safe.validation
    assert ("p0 r3", "p0 r0") in _preferred(safe)
    # and the invalidated vote trains nothing, while the rest of its judgement still does
    assert {item_of(p.id) for p in safe} == {first.pk} and len(safe) == 6
    assert on_safe.judgements == 1


def test_a_pairwise_criterion_trains_on_its_choices(
    project: Project, annotator: Any, tmp_path: Path
) -> None:
    # given pairwise judgements whose "safe" choice disagrees with the overall one
    Project.objects.filter(pk=project.pk).update(criteria=CRITERIA)
    make_pairs(project, tmp_path, 3, labelled=False)
    for n, pair in enumerate(Pair.objects.filter(project=project)):
        Judgement.objects.create(
            pair=pair, annotator=annotator, choice="a", criteria={"safe": "b"}, client_id=f"c{n}"
        )
    project.refresh_from_db()
    # when / then
    assert {p.label for p in _all(snapshot_project(project))} == {"a"}
    on_safe = _all(snapshot_project(project, criterion="safe"))
    assert len(on_safe) == 3 and {p.label for p in on_safe} == {"b"}
    assert {p.id for p in on_safe} == {str(pk) for pk in Pair.objects.values_list("pk", flat=True)}


def _all(snapshot: Any) -> list[Any]:
    return snapshot.train + snapshot.validation


def test_strength_reaches_the_pairs_and_the_margin_loss(
    ranked: Project, project: Project, annotator: Any, second_annotator: Any, tmp_path: Path
) -> None:
    from rewards.ml.pairs import pair_tensors, unique_rows

    # given a ranking with a strength, one without, and pairwise votes of strengths 3 and 2
    strong, plain = _items(ranked, tmp_path, 2)
    _rank(strong, annotator, [[0], [1], [2], [3]], strength=3)
    _rank(plain, annotator, [[0], [1], [2], [3]])
    make_pairs(project, tmp_path, 1, labelled=False)
    pair = Pair.objects.get(project=project)
    for n, (user, strength) in enumerate([(annotator, 3), (second_annotator, 2)]):
        Judgement.objects.create(
            pair=pair, annotator=user, choice="b", strength=strength, client_id=f"s{n}"
        )
    # when
    ranking_pairs = _all(snapshot_project(ranked))
    (pairwise,) = _all(snapshot_project(project))
    # then each implied pair carries its ranking's strength, or none
    strengths = {(item_of(p.id), p.strength) for p in ranking_pairs}
    assert strengths == {(strong.pk, 3), (plain.pk, None)}
    # and a pairwise pair the mean of its agreeing votes' strengths, rounded half up
    assert pairwise.strength == 3
    # and the loss's margin is strength x margin_per_strength (0 without a strength)
    rows, _ = unique_rows(ranking_pairs)
    margins = pair_tensors(ranking_pairs, rows, 0.5).margin.tolist()
    assert sorted(set(margins)) == [0.0, 1.5]


def test_random_slice_splits_implied_pairs_by_their_items_lease(
    ranked: Project, annotator: Any, tmp_path: Path
) -> None:
    # given one item judged on a random-slice lease, one on a model-chosen one, one imported
    in_slice, chosen, imported = _items(ranked, tmp_path, 3)
    _rank(in_slice, annotator, [[0], [1], [2], [3]], in_slice=True)
    _rank(chosen, annotator, [[0], [1], [2], [3]], in_slice=False)
    _rank(imported, annotator, [[0], [1], [2], [3]])
    pairs = _all(snapshot_project(ranked))
    # when
    model_chosen, random_slice = split_by_lease_kind(pairs)
    # then each item's six implied pairs follow its lease, and the imported item's neither
    assert {item_of(p.id) for p in random_slice} == {in_slice.pk} and len(random_slice) == 6
    assert {item_of(p.id) for p in model_chosen} == {chosen.pk} and len(model_chosen) == 6


def test_an_external_model_is_measured_on_a_ranking_projects_implied_pairs(
    ranked: Project, annotator: Any, tmp_path: Path
) -> None:
    # given 60 ranked items and an external model that scores them in the same order
    items = _items(ranked, tmp_path, 60)
    for item in items:
        _rank(item, annotator, [[0], [1], [2], [3]])
    model = RewardModel.objects.create(project=ranked, version=1, mode="external")
    ResponseScore.objects.bulk_create(
        ResponseScore(response_id=rid, model=model, mean=-float(k), std=0.0)
        for item in items
        for k, rid in enumerate(item_response_ids(item))
    )
    # when
    measure_external_model(model)
    # then it is measured on every validation pair: each item's six, all of them right
    validation = snapshot_project(ranked).validation
    assert model.metrics["n"] == len(validation) > 0 and len(validation) % 6 == 0
    assert model.metrics["accuracy"] == 1.0


def _retrain(admin: Any, project: Project, body: dict[str, Any]) -> Any:
    return client_for(admin).post(f"/api/projects/{project.slug}/retrain", body, format="json")


def test_the_retrain_api_takes_a_criterion_and_refuses_an_unknown_one(
    admin: Any, ranked: Project, django_capture_on_commit_callbacks: Any
) -> None:
    # when an unknown criterion is asked for, at the top level and inside options
    top = _retrain(admin, ranked, {"criterion": "kind"})
    nested = _retrain(admin, ranked, {"options": {"criterion": "kind"}})
    # then both are refused naming the field, and nothing is queued
    assert top.status_code == nested.status_code == 400
    assert "'kind' is not a criterion" in top.json()["criterion"][0]
    assert "criterion" in nested.json()["options"]
    assert not TrainingRun.objects.exists()
    # when a known one is asked for, then the run carries it
    with django_capture_on_commit_callbacks():
        answer = _retrain(admin, ranked, {"options": {"criterion": "safe"}, "confirm": True})
    assert answer.status_code == 202, answer.json()
    assert TrainingRun.objects.get().options == {"criterion": "safe"}


def test_the_retrain_command_and_page_take_a_criterion(
    admin: Any, ranked: Project, django_capture_on_commit_callbacks: Any
) -> None:
    # when the command names an unknown criterion, then it fails naming the field
    with pytest.raises(CommandError, match="criterion: 'kind' is not a criterion"):
        call_command("retrain", ranked.slug, "--criterion", "kind", stdout=StringIO())
    # and the models page refuses it with the same message
    page = Client()
    page.force_login(admin)
    response = page.post(f"/projects/{ranked.slug}/models/retrain", {"criterion": "kind"})
    shown = [m.message for m in get_messages(response.wsgi_request)]
    assert len(shown) == 1 and shown[0].startswith("criterion: 'kind' is not a criterion")
    assert not TrainingRun.objects.exists()
    # and the page offers the project's criteria
    assert (
        b'<option value="safe">safe</option>' in page.get(f"/projects/{ranked.slug}/models").content
    )
    # when the command names a known one with a margin, then the run carries both
    with django_capture_on_commit_callbacks():
        call_command(
            "retrain", ranked.slug, "--criterion", "safe", "--margin-per-strength", "0.5",
            "--yes", stdout=StringIO(),
        )  # fmt: skip
    assert TrainingRun.objects.get().options == {"criterion": "safe", "margin_per_strength": 0.5}


def test_a_heads_run_trains_on_a_criterion_of_rankings(
    rewards_dirs: Path, ranked: Project, annotator: Any, tmp_path: Path
) -> None:
    # given 30 ranked items whose "safe" votes tie two responses the overall order separates
    for item in _items(ranked, tmp_path, 30):
        safe = _as_ranking(item, [[3], [1, 2], [0]])
        _rank(item, annotator, [[0], [1], [2], [3]], criteria={"safe": safe}, strength=2)
    run = TrainingRun.objects.create(
        project=ranked,
        status="running",
        options={"members": 1, "epochs": 1, "max_length": 32, "criterion": "safe"},
    )
    # when the worker trains it
    from rewards.worker.services import train_reward_model

    train_reward_model(run.pk)
    # then the version is measured on the criterion's implied pairs: five per item, not six
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.model is not None
    validation = snapshot_project(ranked, criterion="safe").validation
    assert run.model.metrics["n"] == len(validation) > 0 and len(validation) % 5 == 0
    assert len(snapshot_project(ranked).validation) == len(validation) // 5 * 6
    # and it is kept but not served: the queue is ordered by the overall preference
    assert not run.model.is_active
    assert run.model.promotion_note.startswith("not served: trained on the criterion 'safe'")
    # and a criterion's vote carries no strength (it grades the overall choice only)
    assert {p.strength for p in validation} == {None}
