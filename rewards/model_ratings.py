"""The served reward model's view of the source models, beside the human leaderboard.

Two readings of the same model: the mean reward of each source model's responses, and the
Bradley-Terry ranking implied by its pairwise probabilities P(a > b) = sigmoid(r_a - r_b) on the
pairs the humans judged, once per vote, so both rankings weigh the pairs alike.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db.models import Avg, QuerySet

from annotate.leaderboard.bradley_terry import VoteModels, fit_strengths, to_elo
from annotate.models import Judgement, Project
from annotate.signals import RewardModelRow, RewardModelView
from rewards.models import ResponseScore, RewardModel

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


def reward_model_view(
    project: Project,
    *,
    judgements: QuerySet[WithAnnotations[Judgement, VoteModels]],
    models: tuple[str, ...],
    ratings: np.ndarray,
) -> RewardModelView | None:
    """Mean reward and implied rating per model, with rank correlations to the human ratings."""
    # Imported here: scipy.stats is slow to import and only projects with a served model need it.
    from scipy.stats import kendalltau, spearmanr

    served = RewardModel.objects.served(project)
    if served is None:
        return None
    rewards = dict(
        ResponseScore.objects.filter(model=served, response__prompt__project=project).values_list(
            "response_id", "mean"
        )
    )
    index = {name: k for k, name in enumerate(models)}
    implied, pairs = _implied_strengths(judgements, rewards, index)
    mean_reward = _mean_rewards(served, project)
    ranks = _ranks(implied)
    rows = [
        RewardModelRow(
            model=name,
            mean_reward=mean_reward.get(name),
            rating=None if implied is None else float(implied[k]),
            rank=ranks.get(k),
            human_rating=float(ratings[k]),
        )
        for k, name in enumerate(models)
    ]
    return RewardModelView(
        version=served.version,
        pairs=pairs,
        models=sorted(rows, key=lambda r: -r.human_rating),
        spearman=_correlation(spearmanr, ratings, implied),
        kendall=_correlation(kendalltau, ratings, implied),
        mean_reward_spearman=_correlation(
            spearmanr,
            ratings,
            np.array([math.nan if r.mean_reward is None else r.mean_reward for r in rows]),
        ),
    )


def _implied_strengths(
    judgements: QuerySet[WithAnnotations[Judgement, VoteModels]],
    rewards: dict[int, float],
    index: dict[str, int],
) -> tuple[np.ndarray | None, int]:
    """Elo ratings fitted to the model's probabilities on the judged pairs, and the vote count."""
    cells: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    rows = judgements.values_list(
        "pair__response_a_id",
        "pair__response_b_id",
        "vote_model_a",
        "vote_model_b",
    )
    for a, b, model_a, model_b in rows.iterator(chunk_size=5000):
        if a not in rewards or b not in rewards or model_a == model_b:
            continue
        if model_a not in index or model_b not in index:
            continue
        p_a = 1.0 / (1.0 + math.exp(rewards[b] - rewards[a]))
        i, j = index[model_a], index[model_b]
        cell = cells[(min(i, j), max(i, j))]
        cell[0] += 1
        cell[1] += p_a if i < j else 1 - p_a
    if not cells:
        return None, 0
    keys = np.array(list(cells), dtype=np.int64)
    totals, won = np.array(list(cells.values())).T
    strengths = fit_strengths(keys[:, 0], keys[:, 1], totals, won, len(index))
    return to_elo(strengths[0]), int(totals.sum())


def _mean_rewards(served: RewardModel, project: Project) -> dict[str, float]:
    rows = (
        ResponseScore.objects.filter(model=served, response__prompt__project=project)
        .exclude(response__model_name="")
        .values("response__model_name")
        .annotate(reward=Avg("mean"))
    )
    return {r["response__model_name"]: float(r["reward"]) for r in rows}


def _ranks(implied: np.ndarray | None) -> dict[int, int]:
    """Model index to rank, 1 for the highest implied rating (no intervals: it has no votes)."""
    if implied is None:
        return {}
    order = sorted(range(len(implied)), key=lambda k: -float(implied[k]))
    return {k: position for position, k in enumerate(order, start=1)}


def _correlation(method: Any, human: np.ndarray, other: np.ndarray | None) -> float | None:
    """Rank correlation over the models both sides rate; None below three models."""
    if other is None:
        return None
    keep = ~np.isnan(other)
    if keep.sum() < 3:
        return None
    value = method(human[keep], other[keep]).statistic
    return None if math.isnan(value) else float(value)


def on_leaderboard_built(sender: Any, project: Project, **kwargs: Any) -> RewardModelView | None:
    return reward_model_view(
        project, judgements=kwargs["judgements"], models=kwargs["models"], ratings=kwargs["ratings"]
    )
