"""Held-out metrics: accuracy without ties, log-loss with ties as 0.5, ECE."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewards.ml.metrics import evaluate, expected_calibration_error


def test_it_excludes_ties_from_accuracy_but_not_from_log_loss() -> None:
    # given two decisive pairs (one right, one wrong) and one tie
    p_a, labels = [0.8, 0.8, 0.5], ["a", "b", "tie"]

    # when evaluated
    metrics = evaluate(p_a, labels)

    # then
    assert metrics["accuracy"] == 0.5
    expected = (-math.log(0.8) - math.log(0.2) - math.log(0.5)) / 3
    assert metrics["log_loss"] == pytest.approx(expected)
    assert metrics["n"] == 3


def test_it_gives_zero_calibration_error_to_calibrated_predictions() -> None:
    # given predictions of 0.75 that come true three times in four
    p, y = np.full(4, 0.75), np.array([1.0, 1.0, 1.0, 0.0])

    # when / then
    assert expected_calibration_error(p, y) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(4, 0.95), y) == pytest.approx(0.2)


def test_it_bounds_log_loss_of_a_confident_miss() -> None:
    # given a certain but wrong prediction
    metrics = evaluate([1.0], ["b"])

    # then the loss is large but finite
    log_loss = metrics["log_loss"]
    assert log_loss is not None and 10 < log_loss < 20
    assert metrics["accuracy"] == 0.0


def test_it_reports_undefined_metrics_as_none_for_strict_json() -> None:
    # given only ties, then nothing at all
    only_ties, empty = evaluate([0.7], ["tie"]), evaluate([], [])

    # then accuracy is undefined for ties, everything but n for no pairs
    assert only_ties["accuracy"] is None and only_ties["log_loss"] is not None
    assert empty == {"accuracy": None, "log_loss": None, "ece": None, "n": 0}
