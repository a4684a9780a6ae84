"""The served model's view of pairs for the annotate side's pages: rewards and margin sort."""

from __future__ import annotations

import math
from typing import Any

from django.db.models import F, QuerySet

from annotate.models import Pair, Project
from annotate.signals import PairDetail, PairSort
from rewards.models import ResponseScore, RewardModel


def served_rewards(pair: Pair) -> PairDetail | None:
    """Rewards of both responses under the served version, and its P(a better than b)."""
    model = RewardModel.objects.served(pair.project_id)
    if model is None:
        return None
    scores = {
        s.response_id: s
        for s in ResponseScore.objects.filter(
            model=model, response_id__in=[pair.response_a_id, pair.response_b_id]
        )
    }
    a, b = scores.get(pair.response_a_id), scores.get(pair.response_b_id)
    title = f"Reward model v{model.version}"
    if a is None or b is None:
        return PairDetail(title, [("rewards", "not scored yet")])
    # sigmoid(r_a - r_b), the Bradley-Terry probability, in a form that cannot overflow.
    p_a = 0.5 * (1 + math.tanh((a.mean - b.mean) / 2))
    return PairDetail(
        title,
        [
            ("reward a", f"{a.mean:.3f} ± {a.std:.3f}"),
            ("reward b", f"{b.mean:.3f} ± {b.std:.3f}"),
            ("P(a better)", f"{p_a:.2f}"),
        ],
    )


def on_pair_details(sender: Any, pair: Pair, **kwargs: Any) -> PairDetail | None:
    return served_rewards(pair)


def margin_sort(project: Project) -> PairSort | None:
    """Sort by |reward a - reward b| under the served version, smallest (least sure) first.

    The margin is stored in each pair's PairRank at re-rank (rewards/worker/priorities.py) and
    indexed with the version that wrote it, so every page is an index range scan; pairs the
    served version has not scored (yet) are left out of this sort.
    """
    model = RewardModel.objects.served(project)
    if model is None:
        return None

    def annotate(pairs: QuerySet[Pair]) -> QuerySet[Pair]:
        return pairs.filter(
            rank__project_id=project.pk,
            rank__margin_version=model.pk,
            rank__reward_margin__isnull=False,
        ).annotate(sort_key=F("rank__reward_margin"))

    return PairSort("margin", f"reward margin (v{model.version}, scored pairs)", annotate)


def on_pair_sorts(sender: Any, project: Project, **kwargs: Any) -> PairSort | None:
    return margin_sort(project)
