"""Are the model's picks worth more than random ones? Same number of labels, two models.

The learning-curve question behind active ordering: with n labels on pairs the model chose and
n labels on pairs served at random, train one model on each (same config, same seed) and
compare them on the same test pairs with a paired bootstrap. A positive difference means the
model's picks moved the curve more per label than random picks did.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from rewards.ml.baseline import paired_interval
from rewards.ml.config import TrainConfig
from rewards.ml.data import PreferencePair, split_by_prompt
from rewards.ml.metrics import evaluate
from rewards.ml.score import ensemble_p_a, score_pairs
from rewards.ml.train import fit, seed_everything

# Fewer labels of either kind than this cannot train a model worth comparing.
MIN_LABELS = 20


def compare_label_sources(
    config: TrainConfig,
    chosen: Sequence[PreferencePair],
    random_slice: Sequence[PreferencePair],
    test: Sequence[PreferencePair],
) -> dict[str, Any]:
    """Accuracy of a model trained on n model-chosen labels minus one on n random labels."""
    n = min(len(chosen), len(random_slice))
    result: dict[str, Any] = {"n_labels": n, "n_test": len(test)}
    if n < MIN_LABELS or not test:
        result["verdict"] = (
            f"not measured yet: needs {MIN_LABELS} training labels of each kind "
            f"(has {len(chosen)} model-chosen, {len(random_slice)} random) and test pairs"
        )
        return result
    draw = random.Random(config.seed)
    labels = [p.label for p in test]
    p_a = {}
    for name, pool in (("model_chosen", chosen), ("random", random_slice)):
        pairs = draw.sample(list(pool), n)
        seed_everything(config.seed)
        train_pairs, stop_pairs = split_by_prompt(pairs, config.val_fraction, seed=config.seed)
        scorer, _ = fit(config, train_pairs, stop_pairs, None)
        p_a[name] = ensemble_p_a(*score_pairs(scorer, test))
        result[f"{name}_accuracy"] = evaluate(p_a[name], labels)["accuracy"]
    low, high, difference = paired_interval(p_a["model_chosen"], p_a["random"], labels)
    result["difference"] = difference
    result["interval"] = [low, high] if low is not None else None
    result["verdict"] = _verdict(n, difference, low, high)
    return result


def _verdict(n: int, difference: float | None, low: float | None, high: float | None) -> str:
    if difference is None or low is None or high is None:
        return "not measured: no decided test pairs"
    span = f"[{low:+.1f}, {high:+.1f}]"
    each = f"with {n} labels each"
    if low > 0:
        return f"{each}, the model's picks beat random picks by {difference:.1f} points {span}"
    if high < 0:
        return f"{each}, random picks beat the model's by {-difference:.1f} points {span}"
    return f"{each}, the model's picks are no better than random ({difference:+.1f} points {span})"
