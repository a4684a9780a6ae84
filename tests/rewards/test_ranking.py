"""Set-based rewrite of pending pairs' priorities from cached response scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotate.models import Pair, PairRank, PairStatus, Project
from rewards.models import ResponseScore, RewardModel
from rewards.worker.priorities import rewrite_priorities
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


def _score(model: RewardModel, response_id: int, members: list[float]) -> None:
    ResponseScore.objects.update_or_create(
        response_id=response_id,
        model=model,
        defaults={"mean": float(np.mean(members)), "std": 0.0, "members": members},
    )


def _p_a(pair: Pair, model: RewardModel) -> float:
    scores = dict(ResponseScore.objects.filter(model=model).values_list("response_id", "members"))
    a, b = np.array(scores[pair.response_a_id]), np.array(scores[pair.response_b_id])
    return float((1 / (1 + np.exp(-(a - b)))).mean())


def test_it_orders_pending_pairs_by_uncertainty_and_leaves_the_rest_alone(
    project: Project, tmp_path: Path
) -> None:
    # given: 8 pending pairs scored with growing margins, one pair with an unscored response,
    # and one complete pair
    make_pairs(project, tmp_path, 10, labelled=False)
    pairs = list(Pair.objects.filter(project=project).order_by("pk"))
    model = RewardModel.objects.create(
        project=project, version=1, mode="heads", backbone="x", is_active=True
    )
    for i, pair in enumerate(pairs):
        _score(model, pair.response_a_id, [0.1 * i, 0.2 * i, 0.3 * i])
        if i != 8:
            _score(model, pair.response_b_id, [0.0, -0.1, 0.1 * (i % 3)])
    PairRank.objects.filter(pair=pairs[8]).update(priority=0.25)
    Pair.objects.filter(pk=pairs[9].pk).update(status=PairStatus.COMPLETE)
    PairRank.objects.filter(pair=pairs[9]).update(priority=0.75)
    # when
    written = rewrite_priorities(project.pk, model_id=model.pk, seed=1, strategy="uncertainty")
    # then: P(a>b) nearest 0.5 comes first among the scored pending pairs
    assert written == 8
    scored = list(Pair.objects.filter(pk__in=[p.pk for p in pairs[:8]]).order_by("-rank__priority"))
    closeness = [abs(_p_a(p, model) - 0.5) for p in scored]
    assert closeness == sorted(closeness)
    # and the unscored and the complete pair keep their priorities
    assert PairRank.objects.get(pair=pairs[8]).priority == 0.25
    assert PairRank.objects.get(pair=pairs[9]).priority == 0.75


def test_it_rewrites_again_after_scores_change(project: Project, tmp_path: Path) -> None:
    # given: a rewrite with one model's scores
    make_pairs(project, tmp_path, 3, labelled=False)
    pairs = list(Pair.objects.filter(project=project).order_by("pk"))
    model = RewardModel.objects.create(
        project=project, version=1, mode="heads", backbone="x", is_active=True
    )
    for i, pair in enumerate(pairs):
        _score(model, pair.response_a_id, [float(i), float(i)])
        _score(model, pair.response_b_id, [0.0, 0.0])
    rewrite_priorities(project.pk, model_id=model.pk, seed=1, strategy="uncertainty")
    first = Pair.objects.filter(project=project).order_by("-rank__priority").first()
    assert first == pairs[0]
    # when the last pair becomes the closest call and the queue is rewritten
    _score(model, pairs[0].response_a_id, [5.0, 5.0])
    _score(model, pairs[2].response_a_id, [0.0, 0.0])
    rewrite_priorities(project.pk, model_id=model.pk, seed=1, strategy="uncertainty")
    # then
    assert Pair.objects.filter(project=project).order_by("-rank__priority").first() == pairs[2]


def test_priorities_are_one_ranking_however_many_chunks_are_read(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: 9 pending pairs whose margins grow with their id, read 4 at a time
    monkeypatch.setattr("rewards.worker.priorities.CHUNK", 4)
    make_pairs(project, tmp_path, 9, labelled=False)
    pairs = list(Pair.objects.filter(project=project).order_by("pk"))
    model = RewardModel.objects.create(
        project=project, version=1, mode="heads", backbone="x", is_active=True
    )
    for i, pair in enumerate(pairs):
        _score(model, pair.response_a_id, [0.5 * i, 0.5 * i])
        _score(model, pair.response_b_id, [0.0, 0.0])
    # when
    rewrite_priorities(project.pk, model_id=model.pk, seed=1, strategy="uncertainty")
    # then: the rank quantiles k/9 over all pairs, the closest call (the first) highest,
    # not three separate rankings of 4, 4 and 1 pairs
    priorities = [PairRank.objects.get(pair=p).priority for p in pairs]
    assert priorities == pytest.approx([(9 - k) / 9 for k in range(9)])
