"""Training pairs as tensors: bootstrap resamples, margins from judged strength, the loss."""

from __future__ import annotations

import math

import pytest
import torch

from rewards.ml.data import PreferencePair
from rewards.ml.heads import bradley_terry_loss
from rewards.ml.pairs import bootstrap_counts, pair_tensors


def test_it_gives_each_member_its_own_resample_of_every_size_n() -> None:
    # when four members resample 50 pairs
    counts = bootstrap_counts(50, 4, seed=0)

    # then each draws 50 with replacement, and no two draw alike
    assert counts.shape == (50, 4)
    assert counts.sum(0).tolist() == [50.0] * 4
    assert len({tuple(column.tolist()) for column in counts.T}) == 4


def test_it_turns_strength_into_a_margin_for_decisive_pairs_only() -> None:
    # given a strong win, an unrated win and a tie
    pairs = [
        PreferencePair("p", "x", "y", "a", strength=3),
        PreferencePair("p", "y", "z", "b"),
        PreferencePair("q", "x", "y", "tie", strength=2),
    ]
    rows = {("p", "x"): 0, ("p", "y"): 1, ("p", "z"): 2, ("q", "x"): 3, ("q", "y"): 4}

    # when indexed with half a reward unit per strength point
    tensors = pair_tensors(pairs, rows, margin_per_strength=0.5)

    # then
    assert tensors.margin.tolist() == [1.5, 0.0, 0.0]
    assert tensors.target.tolist() == [1.0, 0.0, 0.5]
    assert tensors.group.tolist() == [0, 0, 1]


def test_it_scores_the_bradley_terry_loss_with_ties_as_half() -> None:
    # given one decisive pair won by a margin of 2 and one tie at equal rewards
    diff = torch.tensor([[2.0], [0.0]])
    target, margin, weight = torch.tensor([1.0, 0.5]), torch.zeros(2), torch.ones(2, 1)

    # when
    loss = bradley_terry_loss(diff, target, margin, weight)

    # then it is the mean of -log sigmoid(2) and the tie's log 2
    expected = (-math.log(1 / (1 + math.exp(-2))) + math.log(2)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-5)
