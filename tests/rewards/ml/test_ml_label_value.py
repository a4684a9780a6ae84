"""Model-chosen labels against random labels: same count, same config, same test pairs."""

from __future__ import annotations

import dataclasses
from typing import Any

from rewards.ml.label_value import MIN_LABELS, compare_label_sources
from tests.rewards.ml.synthetic import synthetic_pairs


def _flipped(pairs: list) -> list:
    """The same pairs with every label reversed: labels that teach the wrong rule."""
    return [dataclasses.replace(p, label="b" if p.label == "a" else "a") for p in pairs]


def test_labels_that_teach_the_wrong_rule_lose_to_random_labels(make_config: Any) -> None:
    # given "model-chosen" labels that are all wrong, and honest random-slice labels
    chosen, random_slice = _flipped(synthetic_pairs(120, seed=4)), synthetic_pairs(120, seed=5)
    test = synthetic_pairs(100, seed=6)
    # when
    result = compare_label_sources(make_config(), chosen, random_slice, test)
    # then random labels win with an interval below zero, and the verdict says so
    assert result["n_labels"] == 120 and result["n_test"] == 100
    assert result["random_accuracy"] > 0.6 > 0.4 > result["model_chosen_accuracy"]
    assert result["interval"][1] < 0
    assert result["verdict"].startswith("with 120 labels each, random picks beat the model's by")


def test_it_compares_equal_numbers_of_labels(make_config: Any) -> None:
    chosen, random_slice = synthetic_pairs(150, seed=4), synthetic_pairs(60, seed=5)
    result = compare_label_sources(make_config(), chosen, random_slice, synthetic_pairs(50, seed=6))
    assert result["n_labels"] == 60
    assert result["verdict"].startswith("with 60 labels each")


def test_too_few_labels_of_either_kind_is_not_measured(make_config: Any) -> None:
    result = compare_label_sources(
        make_config(), synthetic_pairs(100, seed=4), synthetic_pairs(MIN_LABELS - 1, seed=5), []
    )
    assert result["verdict"].startswith("not measured yet")
    assert "random_accuracy" not in result
