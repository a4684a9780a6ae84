"""Priorities are on one scale (rank quantiles in (0, 1], higher first) under every strategy;
pairs imported after a model is served wait at 0 until their embed-ahead run ends, then take
their place in the ranking."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from annotate.importing.pipeline import import_file
from annotate.models import Pair, PairStatus, Project
from rewards.ml.acquisition import STRATEGIES, acquisition_scores, rank_quantiles
from rewards.ml.testing import WORDS
from rewards.models import EmbeddingRun, ResponseScore, RewardModel
from rewards.worker.services import embed_project
from tests.factories import write_jsonl
from tests.rewards.conftest import train_version

pytestmark = pytest.mark.django_db


def _rows(n: int, prefix: str) -> list[dict[str, str]]:
    """Pairs written in the tiny backbone's vocabulary, so each one scores differently."""
    rng = random.Random(prefix)

    def text(k: int) -> str:
        return " ".join(rng.choices(WORDS, k=k))

    return [
        {"id": f"{prefix}-{i}", "prompt": text(6), "response_a": text(8), "response_b": text(8)}
        for i in range(n)
    ]


def _queue(project: Project) -> list[Pair]:
    """Pending pairs in the order the queue serves them."""
    pending = Pair.objects.filter(project=project, status=PairStatus.PENDING).select_related("rank")
    return list(pending.order_by("-rank__priority", "tiebreak"))


def _raw_scores(pairs: list[Pair], model: RewardModel, strategy: str) -> np.ndarray:
    members = dict(ResponseScore.objects.filter(model=model).values_list("response_id", "members"))
    a = np.array([members[p.response_a_id] for p in pairs])
    b = np.array([members[p.response_b_id] for p in pairs])
    return acquisition_scores(strategy, a, b)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_new_pairs_wait_last_then_take_their_place_on_the_same_scale(
    rewards_dirs: Path, project: Project, strategy: str
) -> None:
    # given 12 pending pairs ranked by a served model under the strategy
    Project.objects.filter(pk=project.pk).update(acquisition=strategy)
    old = _rows(12, "old")
    import_file(project, write_jsonl(rewards_dirs / "old.jsonl", old), labels="ignore")
    model = train_version(project, rewards_dirs)
    assert all(0.0 < p.rank.priority <= 1.0 for p in _queue(project))
    # when 6 pairs are imported
    new = _rows(6, "new")
    import_file(project, write_jsonl(rewards_dirs / "new.jsonl", new), labels="ignore")
    # then, until they are scored, they are served after every ranked pair
    waiting = _queue(project)
    assert [p.external_id.split("-")[0] for p in waiting] == ["old"] * 12 + ["new"] * 6
    assert {p.rank.priority for p in waiting[12:]} == {0.0}
    # when their embed-ahead run finishes
    embed_project(EmbeddingRun.objects.create(project=project).pk)
    # then all 18 share one ranking: rank quantiles spread over (0, 1], new pairs among them
    ranked = _queue(project)
    priorities = np.array([p.rank.priority for p in ranked])
    # (tied scores share their mean rank, so the quantiles' mean is the same for any ties)
    assert priorities.min() > 0.0 and priorities.max() <= 1.0
    assert priorities.mean() == pytest.approx(19 / 36)
    placed = [i for i, p in enumerate(ranked) if p.external_id.startswith("new")]
    assert placed != list(range(12, 18)), "new pairs were left at the end"
    if strategy in ("uncertainty", "disagreement"):  # deterministic: the model's own order
        expected = rank_quantiles(_raw_scores(ranked, model, strategy))
        assert np.allclose(priorities, expected)
