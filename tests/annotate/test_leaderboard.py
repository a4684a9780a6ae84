"""Bradley-Terry ratings, intervals and ranks from vote arrays (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import root

from annotate.leaderboard.bradley_terry import (
    PRIOR_PRECISION,
    Votes,
    build_votes,
    fit_leaderboard,
    tally,
)

ROUNDS = 200


def votes_from(rows: list[tuple[str, str, str]]) -> Votes:
    """Votes from (model a, model b, choice) rows, all responses of equal length."""
    return build_votes((choice, a, b, 100, 100) for a, b, choice in rows)


def ratings_by_model(votes: Votes, values: np.ndarray) -> dict[str, float]:
    return dict(zip(votes.models, values.tolist(), strict=True))


def independent_ratings(rows: list[tuple[str, str, str]], *, precision: float) -> dict:
    """Solve the Bradley-Terry score equations vote by vote, with plain Python sums.

    For each model: sum over its votes of (its score - P(it wins)) - precision * strength = 0,
    with P(i beats j) = 1 / (1 + exp(s_j - s_i)); a root finder, not a minimiser.
    """
    names = sorted({m for a, b, _ in rows for m in (a, b)})
    at = {name: k for k, name in enumerate(names)}
    worth = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}

    def equations(s: np.ndarray) -> list[float]:
        out = [-precision * s[k] for k in range(len(names))]
        for a, b, choice in rows:
            p_a = 1.0 / (1.0 + math.exp(s[at[b]] - s[at[a]]))
            out[at[a]] += worth[choice] - p_a
            out[at[b]] += (1 - worth[choice]) - (1 - p_a)
        if precision == 0:  # strengths are defined up to a shift: pin their sum
            out[0] = sum(s)
        return out

    solution = root(equations, np.zeros(len(names)), tol=1e-14).x
    centred = solution - solution.mean()
    return {name: 1000 + 400 / math.log(10) * centred[at[name]] for name in names}


HAND_BUILT = [
    *[("gpt", "llama", "a")] * 5,
    *[("gpt", "llama", "b")] * 2,
    *[("llama", "gpt", "tie")] * 2,
    *[("gpt", "mistral", "a")] * 3,
    *[("mistral", "gpt", "a")] * 2,
    *[("gpt", "mistral", "both_bad")] * 1,
    *[("llama", "mistral", "a")] * 4,
    *[("llama", "mistral", "b")] * 3,
    *[("mistral", "qwen", "a")] * 2,
    *[("mistral", "qwen", "b")] * 3,
    *[("qwen", "gpt", "a")] * 1,
    *[("qwen", "gpt", "b")] * 4,
    *[("qwen", "llama", "tie")] * 3,
]


@pytest.mark.parametrize("precision", [PRIOR_PRECISION, 0.0])
def test_it_matches_an_independent_solution_on_a_hand_built_case(precision: float) -> None:
    # given four models with wins, losses, ties and both-bad between them
    votes = votes_from(HAND_BUILT)
    # when
    fit = fit_leaderboard(votes, rounds=ROUNDS, prior_precision=precision)
    # then
    expected = independent_ratings(HAND_BUILT, precision=precision)
    got = ratings_by_model(votes, fit.ratings)
    assert got == pytest.approx(expected, abs=1e-6)
    assert np.mean(fit.ratings) == pytest.approx(1000.0, abs=1e-9)


def test_two_models_rate_400_log10_of_their_win_ratio_apart() -> None:
    # given one model winning 3 votes of 4
    votes = votes_from([("x", "y", "a")] * 3 + [("y", "x", "a")])
    # when
    fit = fit_leaderboard(votes, rounds=ROUNDS, prior_precision=0.0)
    # then
    got = ratings_by_model(votes, fit.ratings)
    assert got["x"] - got["y"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert got["x"] == pytest.approx(1000 + 200 * math.log10(3), abs=1e-6)


def test_ties_and_both_bad_count_half_a_win_for_each_side() -> None:
    # given 2 wins and 2 ties, 2 wins and 2 both-bad, and 3 wins against 1 loss
    with_ties = votes_from([("x", "y", "a")] * 2 + [("x", "y", "tie")] * 2)
    with_both_bad = votes_from([("x", "y", "a")] * 2 + [("y", "x", "both_bad")] * 2)
    three_to_one = votes_from([("x", "y", "a")] * 3 + [("x", "y", "b")])
    # when
    fits = [fit_leaderboard(v, rounds=ROUNDS) for v in (with_ties, with_both_bad, three_to_one)]
    # then all three say the same thing about x and y
    ratings = [
        ratings_by_model(v, f.ratings)
        for v, f in zip((with_ties, with_both_bad, three_to_one), fits, strict=True)
    ]
    assert ratings[0] == pytest.approx(ratings[2], abs=1e-6)
    assert ratings[1] == pytest.approx(ratings[2], abs=1e-6)
    # and both-bad is reported on its own
    counts = tally(with_both_bad)
    assert counts.both_bad.tolist() == [2, 2] and counts.ties.tolist() == [0, 0]
    assert counts.wins.tolist() == [2, 0]
    assert counts.pair_wins.tolist() == [[0, 2], [0, 0]]
    assert counts.pair_both_bad.tolist() == [[0, 2], [2, 0]]
    assert counts.win_rate[0, 1] == 0.75 and counts.win_rate[1, 0] == 0.25


def test_a_model_that_always_wins_ranks_first_with_a_clear_interval() -> None:
    # given "champ" beats everyone and the others split their games
    rows = [("champ", other, "a") for other in ("a1", "a2", "a3") for _ in range(8)]
    rows += [
        (x, y, choice)
        for x, y in [("a1", "a2"), ("a2", "a3"), ("a1", "a3")]
        for choice in ("a", "b", "a", "b", "tie")
    ]
    votes = votes_from(rows)
    # when
    fit = fit_leaderboard(votes, rounds=ROUNDS)
    # then its rating is finite, first, and its interval lies above every other interval
    champ = votes.models.index("champ")
    others = [k for k in range(len(votes.models)) if k != champ]
    assert np.isfinite(fit.ratings).all()
    assert fit.ranks[champ] == 1
    assert all(fit.ranks[k] == 2 for k in others)
    assert fit.low[champ] > max(fit.high[k] for k in others)


def simulated_votes(n: int, *, seed: int) -> Votes:
    """n votes between four models 0, 100, 200 and 300 Elo apart, 10% ties."""
    rng = np.random.default_rng(seed)
    strength = np.array([0.0, 100.0, 200.0, 300.0]) / (400 / math.log(10))
    first = rng.integers(0, 4, n)
    second = (first + rng.integers(1, 4, n)) % 4
    p_first = 1 / (1 + np.exp(strength[second] - strength[first]))
    outcome = np.where(rng.random(n) < 0.1, 2, np.where(rng.random(n) < p_first, 0, 1))
    return Votes(("m0", "m1", "m2", "m3"), first, second, outcome, np.zeros(n))


def test_intervals_contain_the_estimate_and_narrow_as_votes_grow() -> None:
    # given the same four models with 300 and with 3,000 votes
    few, many = (fit_leaderboard(simulated_votes(n, seed=1)) for n in (300, 3000))
    # then
    for fit in (few, many):
        assert (fit.low <= fit.ratings).all() and (fit.ratings <= fit.high).all()
    assert ((many.high - many.low) < (few.high - few.low)).all()
    # and with enough votes the true order shows in the ranks
    assert many.ranks.tolist() == [4, 3, 2, 1]


def test_the_bootstrap_is_seeded_and_needs_200_rounds() -> None:
    votes = simulated_votes(200, seed=2)
    one, two = (fit_leaderboard(votes, seed=7) for _ in range(2))
    assert one.low.tolist() == two.low.tolist() and one.high.tolist() == two.high.tolist()
    assert fit_leaderboard(votes, seed=8).low.tolist() != one.low.tolist()
    with pytest.raises(ValueError, match="200"):
        fit_leaderboard(votes, rounds=100)


def test_length_control_moves_a_model_that_wins_only_by_length() -> None:
    # given four equally good models; "verbose" writes about three times as much, and every
    # vote favours the longer response
    rng = np.random.default_rng(3)
    names = ("verbose", "b", "c", "d")
    n = 4000
    first = rng.integers(0, 4, n)
    second = (first + rng.integers(1, 4, n)) % 4
    log_length = rng.normal(0, 0.4, (n, 2)) + np.log(3) * (np.stack([first, second], 1) == 0)
    ratio = log_length[:, 0] - log_length[:, 1]
    p_first = 1 / (1 + np.exp(-1.0 * ratio))
    votes = Votes(names, first, second, np.where(rng.random(n) < p_first, 0, 1), ratio)
    # when
    plain = fit_leaderboard(votes, rounds=ROUNDS)
    controlled = fit_leaderboard(votes, rounds=ROUNDS, length_control=True)
    # then without length control it ranks first, alone
    assert plain.ranks.tolist() == [1, 2, 2, 2]
    assert plain.ratings[0] > 1100
    # and with it, it is one of four equals, and the coefficient says longer wins
    assert controlled.ranks.tolist() == [1, 1, 1, 1]
    assert abs(controlled.ratings[0] - 1000) < 25
    assert controlled.length_interval is not None and controlled.length_interval[0] > 0
    assert controlled.length_coefficient == pytest.approx(400 * math.log10(2), rel=0.15)


def test_votes_without_two_named_models_are_left_out() -> None:
    votes = build_votes(
        [
            ("a", "x", "y", 10, 20),
            ("a", "x", "x", 10, 20),
            ("b", "", "y", 10, 20),
            ("tie", "y", "z", 10, 10),
        ]
    )
    assert votes.models == ("x", "y", "z")
    assert len(votes) == 2
    assert votes.log_length_ratio[0] == pytest.approx(math.log(11 / 21))


def test_it_refuses_to_rank_fewer_than_two_models() -> None:
    with pytest.raises(ValueError, match="two models"):
        fit_leaderboard(build_votes([]))
