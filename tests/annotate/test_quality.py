"""The quality measures: alpha's reference value, intervals, flags on PandaLM-like data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from annotate.quality.measures import (
    Vote,
    alpha_interval,
    annotator_stats,
    flag_annotators,
    krippendorff_alpha,
    needs_another_vote,
)

DEMO = Path(__file__).resolve().parents[2] / "annotate" / "demo" / "pandalm-labelled.jsonl"

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, nominal values with missing data (None).
REFERENCE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _units(observers: list[list[int | None]]) -> list[list[int]]:
    return [[v for v in column if v is not None] for column in zip(*observers, strict=True)]


def test_it_matches_krippendorffs_worked_example() -> None:
    assert krippendorff_alpha(_units(REFERENCE)) == pytest.approx(0.743, abs=0.0005)


def test_it_is_one_for_perfect_agreement_and_undefined_without_variation() -> None:
    assert krippendorff_alpha([["a", "a"], ["b", "b", "b"], ["tie", "tie"]]) == 1.0
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None
    assert krippendorff_alpha([["a"], ["b"]]) is None


def test_its_bootstrap_interval_is_seeded_and_brackets_alpha() -> None:
    units = _pandalm_units()
    alpha, interval = krippendorff_alpha(units), alpha_interval(units)
    assert alpha is not None and interval is not None
    low, high = interval
    assert low < alpha < high
    assert alpha_interval(units) == (low, high)
    assert high - low < 0.2


def _pandalm_votes() -> list[Vote]:
    """The demo file's three fixed annotators, as votes (rater 1, 2, 3 in meta.votes order)."""
    votes = []
    for pair_id, line in enumerate(DEMO.read_text().splitlines()):
        for rater, choice in enumerate(json.loads(line)["meta"]["votes"], start=1):
            votes.append(Vote(pair_id, rater, choice))
    return votes


def _pandalm_units() -> list[list[str]]:
    grouped: dict[int, list[str]] = {}
    for vote in _pandalm_votes():
        grouped.setdefault(vote.pair_id, []).append(vote.choice)
    return list(grouped.values())


def test_pandalms_real_annotators_are_not_flagged() -> None:
    stats = annotator_stats(_pandalm_votes())
    flag_annotators(stats, gold_min_accuracy=0.7)
    assert [s.rater for s in stats] == [1, 2, 3]
    assert all(s.agreement.share is not None and s.agreement.share > 0.85 for s in stats)
    assert [s.flags for s in stats] == [[], [], []]


@pytest.mark.parametrize("seed", range(5))
def test_a_random_clicker_is_flagged_within_30_judgements(seed: int) -> None:
    # given a fourth annotator who answers 30 pairs at random
    rng = random.Random(seed)
    clicker = [
        Vote(pair_id, 99, rng.choice(["a", "b", "tie", "both_bad"]), rng.choice("ab"))
        for pair_id in range(30)
    ]
    # when
    stats = annotator_stats(_pandalm_votes() + clicker)
    flag_annotators(stats, gold_min_accuracy=0.7)
    # then
    flags = {s.rater: s.flags for s in stats}
    assert flags[99] and "agrees with the others' majority" in flags[99][0]
    assert flags[1] == flags[2] == flags[3] == []


def test_it_flags_left_bias_gold_failures_and_haste() -> None:
    # given one annotator who always picks the left side, fast, wrong on gold
    votes = [Vote(i, 1, "a", "a", 900, gold="b") for i in range(20)]
    votes += [Vote(i, 1, "b", "b", 900, gold="a") for i in range(20, 40)]
    # when
    stats = annotator_stats(votes)
    flag_annotators(stats, gold_min_accuracy=0.7)
    # then
    (flags,) = [s.flags for s in stats]
    assert any("left side in 40 of 40" in f for f in flags)
    assert any("gold accuracy 0%" in f for f in flags)
    assert any("median 0.9 s" in f for f in flags)


def test_its_completion_rule_stops_on_agreement_and_at_the_maximum() -> None:
    assert needs_another_vote(["a"], minimum=2, maximum=3)
    assert not needs_another_vote(["a", "a"], minimum=2, maximum=3)
    assert needs_another_vote(["a", "b"], minimum=2, maximum=3)
    assert not needs_another_vote(["a", "b", "tie"], minimum=2, maximum=3)
    assert not needs_another_vote(["a", "b"], minimum=2, maximum=2)
