"""The served model's rewards for one pair, shown on the annotate side's pair page."""

from __future__ import annotations

import math
from typing import Any

from annotate.models import Pair
from annotate.signals import PairDetail
from rewards.models import ResponseScore, RewardModel


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
