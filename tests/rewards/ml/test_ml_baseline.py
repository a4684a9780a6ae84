"""The length-only baseline: direction learned, paired interval, plain verdict, no torch."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np

from rewards.ml.baseline import beats_length, compare_with_length, fit_length_model
from rewards.ml.data import PreferencePair

ROOT = Path(__file__).resolve().parents[3]


def _pairs(n: int, *, longer_wins: bool, seed: int = 0) -> list[PreferencePair]:
    """Pairs of a short and a long answer; the stated length direction wins 80% of the time."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        short, long = "word " * rng.randint(2, 6), "word " * rng.randint(20, 60)
        a, b = (short, long) if i % 2 else (long, short)
        long_is_a = a == long
        follows = rng.random() < 0.8
        a_wins = long_is_a == (longer_wins == follows)
        pairs.append(PreferencePair(prompt=f"q{i}", a=a, b=b, label="a" if a_wins else "b"))
    return pairs


def test_it_learns_the_direction_of_length_per_data_set() -> None:
    assert fit_length_model(_pairs(200, longer_wins=True)).weight > 0
    assert fit_length_model(_pairs(200, longer_wins=False)).weight < 0


def test_a_model_that_only_follows_length_is_no_better_than_length() -> None:
    # given validation pairs and a model whose P(a) is a rescaled length rule
    train, val = _pairs(200, longer_wins=True), _pairs(200, longer_wins=True, seed=1)
    p_a = np.array([0.7 if len(p.a) > len(p.b) else 0.3 for p in val])
    rewards_a = np.array([len(p.a) for p in val], dtype=float)
    rewards_b = np.array([len(p.b) for p in val], dtype=float)
    # when
    baseline = compare_with_length(train, val, p_a, rewards_a=rewards_a, rewards_b=rewards_b)
    # then the difference is zero, the verdict says so, and rewards track length
    assert baseline["accuracy_difference"] == 0.0
    assert baseline["verdict"].startswith("no better than response length on these pairs")
    assert baseline["length_accuracy"] == baseline["accuracy"]
    assert baseline["length_correlation"] > 0.9
    assert not beats_length(baseline)


def test_a_model_that_knows_the_labels_beats_length_with_an_interval_above_zero() -> None:
    train, val = _pairs(200, longer_wins=True), _pairs(200, longer_wins=True, seed=1)
    p_a = np.array([0.9 if p.label == "a" else 0.1 for p in val])
    baseline = compare_with_length(train, val, p_a)
    low, high = baseline["interval"]
    assert 0 < low < baseline["accuracy_difference"] < high
    assert baseline["verdict"].startswith(f"beats length by {baseline['accuracy_difference']:.1f}")
    assert beats_length(baseline)


def test_a_model_below_length_is_called_worse() -> None:
    train, val = _pairs(200, longer_wins=True), _pairs(200, longer_wins=True, seed=1)
    p_a = np.full(len(val), 0.6)  # always "a": a coin flip on these balanced pairs
    baseline = compare_with_length(train, val, p_a)
    assert baseline["verdict"].startswith("worse than response length by")


def test_no_validation_pairs_means_not_measured() -> None:
    baseline = compare_with_length(_pairs(20, longer_wins=True), [], [])
    assert baseline["interval"] is None
    assert baseline["verdict"].startswith("not measured")


def test_it_needs_neither_torch_nor_django() -> None:
    code = (
        "import rewards.ml.baseline, sys; "
        "assert 'torch' not in sys.modules and 'django' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
