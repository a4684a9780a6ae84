"""The random-slice estimate of a ranking project scores each item's decisive implied pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotate.importing.pipeline import import_file
from annotate.judging.shapes import implied_choice
from annotate.models import Judgement, Pair, Project
from annotate.projects.members import set_member
from rewards.models import ResponseScore, RewardModel
from rewards.random_slice import wilson_interval
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for
from tests.factories import item_response_ids, judged_lease, make_project, write_jsonl

pytestmark = pytest.mark.django_db

IN_ORDER = [[0], [1], [2], [3]]  # r0 best, r3 worst
# The served version's score of r0..r3: it agrees with IN_ORDER on every pair but r1 vs r2.
SCORES = [3.0, 1.0, 2.0, 0.0]


@pytest.fixture
def ranked(admin: Any, annotator: Any, second_annotator: Any) -> Project:
    project = make_project("ranked", comparison="ranking", max_ranked=4, admin=admin)
    for user in (annotator, second_annotator):
        set_member(project, username=user.username, role="annotator")
    return project


def _items(project: Project, tmp_path: Path, n: int) -> list[Pair]:
    rows = [{"prompt": f"p{i}?", "responses": [f"p{i} r{k}" for k in range(4)]} for i in range(n)]
    import_file(project, write_jsonl(tmp_path / "items.jsonl", rows))
    return list(Pair.objects.filter(project=project).order_by("pk"))


def _rank(pair: Pair, user: Any, order: list[list[int]], *, in_slice: bool) -> Judgement:
    """A ranking by places (0 first) in item order, judged on a lease of the kind given."""
    ids = item_response_ids(pair)
    ranking = [sorted(ids[k] for k in group) for group in order]
    lease = judged_lease(pair, user, random_slice=in_slice)
    return Judgement.objects.create(
        pair=pair,
        annotator=user,
        assignment=lease,
        choice=implied_choice(ranking, pair.response_a_id, pair.response_b_id),
        ranking=ranking,
        client_id=f"{user.pk}-{pair.pk}",
    )


def _served(project: Project, items: list[Pair]) -> RewardModel:
    model = RewardModel.objects.create(project=project, version=1, mode="heads", is_active=True)
    ResponseScore.objects.bulk_create(
        ResponseScore(response_id=rid, model=model, mean=SCORES[k], std=0.0)
        for item in items
        for k, rid in enumerate(item_response_ids(item))
    )
    return model


def _estimate(admin: Any, project: Project) -> dict[str, Any]:
    body = fetched(client_for(admin), f"/api/projects/{project.slug}/models").json()
    estimate: dict[str, Any] = body["models"][0]["slice_estimate"]
    return estimate


def test_every_decisive_implied_pair_of_a_ranking_is_scored(
    admin: Any, annotator: Any, second_annotator: Any, ranked: Project, tmp_path: Path
) -> None:
    # given a served version that is wrong on r1 vs r2 only
    agreeing, reversed_, split, tied = items = _items(ranked, tmp_path, 4)
    model = _served(ranked, items)
    # and on random-slice leases: one ranking in its order (right on 5 of 6 pairs), one in
    # the reverse order (right on r1 vs r2 only: 1 of 6)
    first = _rank(agreeing, annotator, IN_ORDER, in_slice=True)
    _rank(reversed_, annotator, [[3], [2], [1], [0]], in_slice=True)
    # and on model-chosen leases: two rankings split on r0 vs r1 (that pair is left out: 4 of
    # the other 5 right), and one with r1 tied with r2 (the tie is left out: 5 of 5 right)
    _rank(split, annotator, IN_ORDER, in_slice=False)
    _rank(split, second_annotator, [[1], [0], [2], [3]], in_slice=False)
    _rank(tied, annotator, [[0], [1, 2], [3]], in_slice=False)
    # when
    estimate = _estimate(admin, ranked)
    # then the random slice scores six pairs per untied ranking of four: 6 of 12 right
    assert estimate["random_slice"]["n"] == 12
    assert estimate["random_slice"]["accuracy"] == 0.5
    # and its interval counts the two items, not the twelve pairs
    assert estimate["random_slice"]["interval"] == wilson_interval(1, 2)
    assert estimate["random_slice"]["interval"] != wilson_interval(6, 12)
    # and the model-chosen side scores only the decisive majority pairs: 9 of 10 right
    assert estimate["model_chosen"]["n"] == 10
    assert estimate["model_chosen"]["accuracy"] == 0.9
    # and rankings a later version trained on do not count for it
    RewardModel.objects.filter(pk=model.pk).update(last_judgement_id=first.pk)
    later = _estimate(admin, ranked)
    assert later["random_slice"]["n"] == 6 and later["random_slice"]["accuracy"] == round(1 / 6, 4)


def test_a_pair_the_version_did_not_score_apart_is_not_counted(
    admin: Any, annotator: Any, ranked: Project, tmp_path: Path
) -> None:
    # given a version that gives r1 and r2 of the item the same score
    (item,) = _items(ranked, tmp_path, 1)
    model = RewardModel.objects.create(project=ranked, version=1, mode="heads", is_active=True)
    ResponseScore.objects.bulk_create(
        ResponseScore(response_id=rid, model=model, mean=mean, std=0.0)
        for rid, mean in zip(item_response_ids(item), [3.0, 1.0, 1.0, 0.0], strict=True)
    )
    # when one random-slice ranking in order is scored
    _rank(item, annotator, IN_ORDER, in_slice=True)
    estimate = _estimate(admin, ranked)
    # then five of its six pairs count, all right
    assert estimate["random_slice"]["n"] == 5 and estimate["random_slice"]["accuracy"] == 1.0
    assert estimate["model_chosen"]["n"] == 0 and estimate["model_chosen"]["accuracy"] is None
