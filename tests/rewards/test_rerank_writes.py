"""Re-ranking writes only the pairs whose priority or margin changed, chunk by chunk by id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from annotate.models import Pair, PairRank, PairStatus, Project
from rewards.models import ResponseScore, RewardModel
from rewards.worker.priorities import rewrite_priorities
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db


def _model(project: Project, version: int) -> RewardModel:
    return RewardModel.objects.create(
        project=project, version=version, mode="heads", backbone="x", is_active=version == 1
    )


def _score_all(model: RewardModel, pairs: list[Pair]) -> None:
    for i, pair in enumerate(pairs):
        for response_id, value in ((pair.response_a_id, 0.3 * i), (pair.response_b_id, 0.0)):
            ResponseScore.objects.update_or_create(
                response_id=response_id,
                model=model,
                defaults={"mean": value, "std": 0.0, "members": [value, value]},
            )


def _state(project: Project) -> list[tuple[float, float | None, int | None]]:
    rows = PairRank.objects.filter(pair__project=project).order_by("pair")
    return list(rows.values_list("priority", "reward_margin", "margin_version"))


class RankUpdates:
    """Counts the UPDATEs of the pairs' rank table run inside it, and the rows they changed."""

    def __init__(self) -> None:
        self.statements = 0
        self.rows = 0

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        result = execute(sql, params, many, context)
        if sql.startswith(f"UPDATE {PairRank._meta.db_table} "):
            self.statements += 1
            self.rows += context["cursor"].rowcount
        return result


def _rerank(project: Project, model: RewardModel) -> RankUpdates:
    updates = RankUpdates()
    with connection.execute_wrapper(updates):
        rewrite_priorities(
            project.pk, model_id=model.pk, seed=model.version, strategy="uncertainty"
        )
    return updates


def test_a_second_rerank_by_the_same_model_rewrites_no_pair(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: 7 pending pairs and a complete one, ranked once, written 3 pairs per UPDATE
    monkeypatch.setattr("rewards.worker.priorities.CHUNK", 3)
    make_pairs(project, tmp_path, 8, labelled=False)
    pairs = list(Pair.objects.filter(project=project).order_by("pk"))
    Pair.objects.filter(pk=pairs[-1].pk).update(status=PairStatus.COMPLETE)
    PairRank.objects.filter(pair=pairs[-1]).update(priority=0.5)
    model = _model(project, 1)
    _score_all(model, pairs)
    first = _rerank(project, model)
    ranked = _state(project)
    # then: every pair has the model's margin, the complete pair its own priority
    assert [version for _, _, version in ranked] == [model.pk] * 8
    assert ranked[-1][0] == 0.5
    assert [margin for _, margin, _ in ranked] == pytest.approx([0.3 * i for i in range(8)])
    assert (first.statements, first.rows) == (3, 8)  # ids in runs of 3: 3 + 3 + 2
    # when: the same scores are ranked again
    again = _rerank(project, model)
    # then: nothing changed, and no row was rewritten
    assert _state(project) == ranked
    assert again.rows == 0


def test_a_new_version_with_equal_scores_still_tags_every_margin(
    project: Project, tmp_path: Path
) -> None:
    # given: pairs ranked by version 1
    make_pairs(project, tmp_path, 5, labelled=False)
    pairs = list(Pair.objects.filter(project=project).order_by("pk"))
    first = _model(project, 1)
    _score_all(first, pairs)
    _rerank(project, first)
    before = _state(project)
    # when: version 2 scores every response exactly as version 1 did
    second = _model(project, 2)
    _score_all(second, pairs)
    written = _rerank(project, second)
    # then: same priorities and margins, each now tagged with version 2
    after = _state(project)
    assert [(p, m) for p, m, _ in after] == [(p, m) for p, m, _ in before]
    assert {version for _, _, version in after} == {second.pk}
    assert written.rows == 5
