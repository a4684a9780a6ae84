"""The served model's view of pairs for the annotate side's pages: rewards and margin sort."""

from __future__ import annotations

import math
from typing import Any

from django.db.models import F, FloatField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Abs, Coalesce

from annotate.models import Pair, Project
from annotate.signals import PairDetail, PairSort
from rewards.models import ResponseScore, RewardModel

# Pairs with an unscored response sort after every scored one.
UNSCORED = 1e9


def served_rewards(pair: Pair) -> PairDetail | None:
    """Rewards of both responses under the served version, and its P(a better than b)."""
    model = RewardModel.objects.filter(project_id=pair.project_id, is_active=True).first()
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

    The key is computed for every matching pair (two score lookups each), so on a large
    project this sort costs a pass over its pairs; filters make it cheaper.
    """
    model = RewardModel.objects.filter(project=project, is_active=True).first()
    if model is None:
        return None

    def score(side: str) -> Subquery:
        scores = ResponseScore.objects.filter(model=model, response=OuterRef(side))
        return Subquery(scores.values("mean")[:1], output_field=FloatField())

    def annotate(pairs: QuerySet[Pair]) -> QuerySet[Pair]:
        margin = Abs(F("reward_a") - F("reward_b"))
        return pairs.alias(reward_a=score("response_a"), reward_b=score("response_b")).annotate(
            sort_key=Coalesce(margin, Value(UNSCORED), output_field=FloatField())
        )

    return PairSort("margin", f"reward margin (v{model.version})", annotate)


def on_pair_sorts(sender: Any, project: Project, **kwargs: Any) -> PairSort | None:
    return margin_sort(project)
