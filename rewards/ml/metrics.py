"""Held-out quality of P(a beats b) predictions: accuracy, log-loss, calibration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TARGETS = {"a": 1.0, "b": 0.0, "tie": 0.5}
# Clip probabilities so one confident miss costs a bounded log-loss, as sklearn's log_loss does.
EPS = 1e-7

Metrics = dict[str, float | int | None]


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width bins of the predicted probability (Guo et al. 2017)."""
    if len(p) == 0:
        return float("nan")
    edges = np.minimum((p * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        members = edges == b
        if members.any():
            error += members.mean() * abs(p[members].mean() - y[members].mean())
    return float(error)


def evaluate(p_a: Sequence[float] | np.ndarray, labels: Sequence[str]) -> Metrics:
    """accuracy (ties excluded), log_loss (ties as 0.5), ece (10 bins), n (pairs seen).

    A metric with nothing to measure (no pairs, or no decisive pairs for accuracy) is None,
    not NaN, so the dict stores as strict JSON (Postgres rejects NaN in JSON columns).
    """
    p = np.clip(np.asarray(p_a, dtype=np.float64), EPS, 1 - EPS)
    y = np.array([TARGETS[label] for label in labels], dtype=np.float64)
    if len(p) != len(y):
        raise ValueError(f"{len(p)} probabilities for {len(y)} labels")
    decisive = y != 0.5
    hits = (p[decisive] > 0.5) == (y[decisive] == 1.0)
    log_loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return {
        "accuracy": float(hits.mean()) if decisive.any() else None,
        "log_loss": float(log_loss.mean()) if len(p) else None,
        "ece": expected_calibration_error(p, y) if len(p) else None,
        "n": len(p),
    }
