"""Acquisition orderings on ensembles built by hand (higher priority = ask sooner)."""

from __future__ import annotations

import numpy as np
import pytest

from rewards.ml.acquisition import (
    STRATEGIES,
    acquisition_scores,
    p_a_from_members,
    priorities,
    rank_quantiles,
    top_k_spread,
)


def ensemble(*margins_per_pair: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Member scores whose a-minus-b margins are the given rows."""
    margins = np.array(margins_per_pair, dtype=np.float64)
    return margins, np.zeros_like(margins)


def test_it_ranks_uncertainty_by_entropy_of_the_mean() -> None:
    # given a confident pair, a coin flip, and a lean
    a, b = ensemble([4.0, 4.0], [0.0, 0.0], [1.0, 1.0])

    # when
    order = np.argsort(-priorities("uncertainty", a, b))

    # then the coin flip comes first and the confident pair last
    assert order.tolist() == [1, 2, 0]


def test_it_ranks_disagreement_above_shared_doubt() -> None:
    # given members that all say 50/50, and members split between strong opinions
    a, b = ensemble([0.0, 0.0, 0.0, 0.0], [5.0, -5.0, 5.0, -5.0], [5.0, 5.0, 5.0, 5.0])

    # when
    bald = acquisition_scores("disagreement", a, b)

    # then only the split ensemble carries mutual information, and it ranks first
    assert bald[1] > 0.5
    assert bald[0] == pytest.approx(0.0, abs=1e-9)
    assert bald[2] == pytest.approx(0.0, abs=1e-6)
    assert priorities("disagreement", a, b)[1] == 1.0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_gives_rank_quantiles_up_to_one(strategy: str) -> None:
    # given 200 pairs of an ensemble with varied margins
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 4)), rng.normal(size=(200, 4))

    # when
    values = priorities(strategy, a, b, seed=5)

    # then one scale whatever the strategy: spread evenly over (0, 1], in the strategy's order
    assert values.min() == 1 / 200 and values.max() == 1.0
    assert np.allclose(np.sort(values), np.arange(1, 201) / 200)
    raw = acquisition_scores(strategy, a, b, seed=5)
    assert np.argmax(values) == np.argmax(raw) and np.argmin(values) == np.argmin(raw)


def test_tied_scores_share_a_quantile() -> None:
    assert rank_quantiles(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [0.875, 0.25, 0.875, 0.5]
    assert rank_quantiles(np.array([7.0])).tolist() == [1.0]
    assert rank_quantiles(np.array([])).tolist() == []


def test_it_ranks_thompson_by_ascending_margin_of_a_drawn_member() -> None:
    # given members that agree within each pair
    a, b = ensemble([3.0, 3.0], [-0.5, -0.5], [1.5, 1.5])

    # when
    order = np.argsort(-priorities("thompson", a, b, seed=3))

    # then the smallest |margin| comes first
    assert order.tolist() == [1, 2, 0]


def test_it_draws_random_priorities_reproducibly() -> None:
    # given any ensemble
    a, b = ensemble(*[[float(i)] for i in range(50)])

    # when drawn twice with one seed and once with another
    first, again = priorities("random", a, b, seed=1), priorities("random", a, b, seed=1)

    # then
    assert np.array_equal(first, again)
    assert not np.array_equal(first, priorities("random", a, b, seed=2))


def test_it_mixes_in_an_exploration_share_of_random_picks() -> None:
    # given 1000 pairs whose uncertainty order is known
    margins = np.linspace(0.0, 6.0, 1000)
    a, b = ensemble(*[[m, m] for m in margins])

    # when a fifth of the ranks are random
    explored = priorities("uncertainty", a, b, explore=0.2, seed=0)

    # then the first hundred served hold roughly a fifth of picks from the confident half
    top = np.argsort(-explored)[:100]
    from_tail = (top >= 500).mean()
    assert 0.03 < from_tail < 0.25
    assert np.argsort(-priorities("uncertainty", a, b))[:100].max() < 100


def test_it_rejects_unknown_strategies() -> None:
    a, b = ensemble([0.0])
    with pytest.raises(ValueError, match="strategy"):
        priorities("greedy", a, b)
    assert set(STRATEGIES) == {"random", "uncertainty", "disagreement", "thompson"}
    assert p_a_from_members(a, b)[0, 0] == pytest.approx(0.5)


def test_it_spreads_a_batch_over_prompts_then_fills_it() -> None:
    # given the three best pairs all on prompt p, then one pair each on q and r
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    groups = ["p", "p", "p", "q", "r"]

    # when / then: one per prompt first, best first; a second pass fills the rest
    assert top_k_spread(scores, groups, 3) == [0, 3, 4]
    assert top_k_spread(scores, groups, 4) == [0, 3, 4, 1]
    assert top_k_spread(scores, groups, 9) == [0, 3, 4, 1, 2]
