"""The honest floor: a length-only Bradley-Terry model beside every reward model version.

Pure numpy (no torch), so external models' scores are judged in the web-free worker path too.
On the shared sets, response length alone (direction learned per set) matches the built-in
model (shared/MEASURED.md); a version is only worth its accuracy if it beats this baseline on
the same validation pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewards.ml.data import PreferencePair
from rewards.ml.metrics import evaluate

# Paired bootstrap resamples for the accuracy difference, and the interval's coverage.
RESAMPLES = 2000
COVERAGE = 0.95
# A little L2 keeps the single weight finite when length separates the training pairs.
RIDGE = 1e-3


def log_length(text: str) -> float:
    """log(1 + characters): the baseline's only view of a response."""
    return math.log1p(len(text))


def length_gap(pairs: Sequence[PreferencePair]) -> np.ndarray:
    """log length of a minus log length of b, per pair."""
    return np.array([log_length(p.a) - log_length(p.b) for p in pairs], dtype=np.float64)


@dataclass(frozen=True)
class LengthModel:
    """P(a beats b) = sigmoid(weight * (log len a - log len b)); the sign is the direction."""

    weight: float

    def p_a(self, pairs: Sequence[PreferencePair]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.weight * length_gap(pairs)))


def fit_length_model(pairs: Sequence[PreferencePair], *, steps: int = 50) -> LengthModel:
    """Maximum-likelihood weight by Newton's method (ties pull towards 0.5)."""
    x = length_gap(pairs)
    y = np.array([p.target for p in pairs], dtype=np.float64)
    w = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-w * x))
        grad = float(np.sum((p - y) * x)) + RIDGE * w
        hess = float(np.sum(p * (1 - p) * x * x)) + RIDGE
        step = grad / hess
        w -= step
        if abs(step) < 1e-9:
            break
    return LengthModel(weight=w)


def compare_with_length(
    train_pairs: Sequence[PreferencePair],
    val_pairs: Sequence[PreferencePair],
    model_p_a: Sequence[float] | np.ndarray,
    *,
    rewards_a: Sequence[float] | np.ndarray | None = None,
    rewards_b: Sequence[float] | np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The model against length alone on the same validation pairs, with a plain verdict.

    `model_p_a` is the model's P(a beats b) per validation pair; the rewards, when given, give
    the correlation of the model's rewards with log response length.
    """
    length = fit_length_model(train_pairs)
    labels = [p.label for p in val_pairs]
    ours = evaluate(np.asarray(model_p_a, dtype=np.float64), labels)
    theirs = evaluate(length.p_a(val_pairs), labels)
    low, high, difference = paired_interval(
        np.asarray(model_p_a, dtype=np.float64), length.p_a(val_pairs), labels, seed=seed
    )
    result: dict[str, Any] = {
        "accuracy": ours["accuracy"],
        "log_loss": ours["log_loss"],
        "length_accuracy": theirs["accuracy"],
        "length_log_loss": theirs["log_loss"],
        "length_weight": round(length.weight, 4),
        "accuracy_difference": difference,
        "interval": [low, high] if low is not None else None,
        "n": sum(label != "tie" for label in labels),
        "length_correlation": None,
    }
    if rewards_a is not None and rewards_b is not None:
        rewards = np.concatenate([np.asarray(rewards_a), np.asarray(rewards_b)]).astype(np.float64)
        lengths = np.array(
            [log_length(p.a) for p in val_pairs] + [log_length(p.b) for p in val_pairs]
        )
        result["length_correlation"] = correlation(rewards, lengths)
    result["verdict"] = verdict(difference, low, high)
    return result


def paired_interval(
    p_first: np.ndarray,
    p_second: np.ndarray,
    labels: Sequence[str],
    *,
    seed: int = 0,
) -> tuple[float | None, float | None, float | None]:
    """(low, high, point) of first's accuracy minus second's, in points, by a paired bootstrap."""
    decisive = np.array([label != "tie" for label in labels], dtype=bool)
    if not decisive.any():
        return None, None, None
    wins_a = np.array([label == "a" for label in labels], dtype=bool)[decisive]
    hit_first = ((p_first[decisive] > 0.5) == wins_a).astype(np.float64)
    hit_second = ((p_second[decisive] > 0.5) == wins_a).astype(np.float64)
    gap = hit_first - hit_second
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(gap), size=(RESAMPLES, len(gap)))
    means = gap[draws].mean(axis=1)
    tail = (1 - COVERAGE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return _points(low), _points(high), _points(gap.mean())


def _points(value: float) -> float:
    return round(float(value) * 100, 1)


def correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation, None when either side is constant."""
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return round(float(np.corrcoef(x, y)[0, 1]), 3)


def verdict(difference: float | None, low: float | None, high: float | None) -> str:
    """One plain sentence: does the model beat response length on these pairs?"""
    if difference is None or low is None or high is None:
        return "not measured: no decided validation pairs"
    span = f"[{low:+.1f}, {high:+.1f}]"
    if low > 0:
        return f"beats length by {difference:.1f} points {span}"
    if high < 0:
        return f"worse than response length by {-difference:.1f} points {span}"
    return f"no better than response length on these pairs ({difference:+.1f} points {span})"


def beats_length(baseline: dict[str, Any]) -> bool:
    """True when the interval of the difference lies above zero."""
    interval = baseline.get("interval")
    if not interval or interval[0] is None:
        return False
    return bool(interval[0] > 0)
