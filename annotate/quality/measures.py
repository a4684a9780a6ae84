"""Label quality: agreement, position bias, annotator reliability, adaptive overlap's rule.

The measures are pure functions over `Vote`s; `project_votes` and the selections at the end
feed them from the database. `analysis_judgements` is the one selection of judgements that
count for analysis; `training_judgements` is what snapshots and exports may use (no gold).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np
from django.db.models import QuerySet

from annotate.judging.gold import gold_records
from annotate.models import Choice, Comparison, Edits, Judgement, Project

CHOICES = tuple(Choice.values)
DECISIVE = (Choice.A, Choice.B)
ALPHA_RESAMPLES = 1000
ALPHA_SEED = 20110101
# Flags. Position bias this strong happens by chance about once in a thousand annotators.
LEFT_BIAS_P = 0.001
# An annotator is flagged when even the top of their agreement interval is this far under the
# median of the others' agreement; 0.1 is well outside the 94-96% spread of PandaLM's annotators.
AGREEMENT_MARGIN = 0.1
FAST_SECONDS = 3.0
# Fewer timed judgements than this say nothing about someone's pace.
MIN_TIMED = 5


def majority(votes: Mapping[str, int]) -> tuple[str | None, float]:
    """The strictly most frequent choice and its share of all votes; None when tied at the top."""
    total = sum(votes.values())
    if not total:
        return None, 0.0
    ranked = sorted(votes.items(), key=lambda kv: kv[1], reverse=True)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, 0.0
    return ranked[0][0], ranked[0][1] / total


def needs_another_vote(choices: Sequence[str], *, minimum: int, maximum: int) -> bool:
    """Adaptive overlap: a pair with at least `minimum` votes is done when they all agree,
    or when it has `maximum` votes (then the majority, if any, decides)."""
    if len(choices) < minimum:
        return True
    return len(choices) < maximum and len(set(choices)) > 1


# Unanimous pairs with at least this many votes may become gold checks (project setting).
GOLD_FROM_VOTES = 3


def unanimous_label(choices: Sequence[str]) -> str:
    """The choice of a pair whose GOLD_FROM_VOTES or more votes all agree, else ""."""
    if len(choices) >= GOLD_FROM_VOTES and len(set(choices)) == 1:
        return choices[0]
    return ""


# ---------------------------------------------------------------- agreement


def _count_matrix(units: Iterable[Sequence[Hashable]]) -> np.ndarray:
    """Units with two or more values as a (units x categories) matrix of counts."""
    kept = [Counter(values) for values in units if len(values) >= 2]
    categories = sorted({c for unit in kept for c in unit}, key=str)
    index = {c: i for i, c in enumerate(categories)}
    matrix = np.zeros((len(kept), max(len(categories), 1)))
    for row, unit in enumerate(kept):
        for category, n in unit.items():
            matrix[row, index[category]] = n
    return matrix


def _alpha_from_weights(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Nominal alpha of the units reweighted by each row of `weights` (resamples x units)."""
    m = counts.sum(axis=1)
    observed = (m**2 - (counts**2).sum(axis=1)) / (m - 1)
    n = weights @ m
    per_category = weights @ counts
    expected = n**2 - (per_category**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - (n - 1) * (weights @ observed) / expected


def krippendorff_alpha(units: Iterable[Sequence[Hashable]]) -> float | None:
    """Krippendorff's alpha for nominal data; a unit is one item's values, any number of them.

    Units with fewer than two values are left out. None when there is nothing to compare or
    every value is the same (alpha is undefined without expected disagreement).
    """
    counts = _count_matrix(units)
    if not len(counts):
        return None
    value = float(_alpha_from_weights(counts, np.ones((1, len(counts))))[0])
    return None if np.isnan(value) or np.isinf(value) else value


def alpha_interval(
    units: Iterable[Sequence[Hashable]],
    *,
    clusters: Sequence[Hashable] | None = None,
    resamples: int = ALPHA_RESAMPLES,
    seed: int = ALPHA_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """A percentile bootstrap interval for alpha, resampling units (pairs) with replacement.

    With `clusters` (one per unit, e.g. the ranking item of each implied pair) whole clusters
    are resampled instead: the units of one cluster were judged in one look, not apart.
    """
    units = list(units)
    counts = _count_matrix(units)
    groups: np.ndarray | None = None
    draws = len(counts)
    if clusters is not None:
        kept = [c for u, c in zip(units, clusters, strict=True) if len(u) >= 2]
        index = {c: i for i, c in enumerate(dict.fromkeys(kept))}
        groups = np.array([index[c] for c in kept], dtype=int)
        draws = len(index)
    if draws < 2:
        return None
    rng = np.random.default_rng(seed)
    # Resampled weights are (resamples x units); chunks keep that under ~40 MB for big projects.
    chunk = max(1, 5_000_000 // max(len(counts), draws))
    values = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        if groups is None:
            weights = rng.multinomial(draws, np.full(draws, 1 / draws), size=size)
        else:  # each resample's count of every cluster, spread over the cluster's units
            drawn = rng.integers(0, draws, size=(size, draws)) + draws * np.arange(size)[:, None]
            weights = np.bincount(drawn.ravel(), minlength=size * draws).reshape(size, draws)
            weights = weights[:, groups]
        values.append(_alpha_from_weights(counts, weights.astype(float)))
    alphas = np.concatenate(values)
    alphas = alphas[np.isfinite(alphas)]
    if not len(alphas):
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(alphas, [tail, 100 - tail])
    return float(low), float(high)


def wilson_interval(successes: int, trials: int) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion; None without trials."""
    if not trials:
        return None
    from scipy.stats import binomtest  # loaded when needed: web processes stay smaller

    ci = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


# ---------------------------------------------------------------- annotators


@dataclass(frozen=True, slots=True)
class Vote:
    """One judgement as the measures see it; `gold` is the pair's gold label ("" if none)."""

    pair_id: int
    rater: int
    choice: str
    shown_left: str = ""
    duration_ms: int | None = None
    gold: str = ""


class RateJSON(TypedDict):
    """A Rate as the quality report's JSON shows it."""

    k: int
    n: int
    rate: float | None
    interval: list[float] | None  # [low, high]


@dataclass(frozen=True)
class Rate:
    """k of n, with the share and its 95% Wilson interval."""

    k: int
    n: int

    @property
    def share(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.k, self.n)

    def as_dict(self) -> RateJSON:
        interval = self.interval
        return {
            "k": self.k,
            "n": self.n,
            "rate": self.share,
            "interval": None if interval is None else [*interval],
        }


@dataclass
class AnnotatorStats:
    rater: int
    judgements: int
    agreement: Rate
    gold: Rate
    left: Rate
    left_p_value: float | None
    tie_rate: float
    both_bad_rate: float
    median_seconds: float | None
    fast_share: float | None
    flags: list[str] = field(default_factory=list)


def by_pair(votes: Iterable[Vote]) -> dict[int, list[Vote]]:
    grouped: dict[int, list[Vote]] = defaultdict(list)
    for vote in votes:
        grouped[vote.pair_id].append(vote)
    return grouped


def annotator_stats(
    votes: Sequence[Vote], gold_records: Mapping[int, tuple[int, int]] | None = None
) -> list[AnnotatorStats]:
    """Per annotator: agreement with the others' majority, gold accuracy, left rate, pace.

    Gold accuracy is each vote's choice against its pair's gold label, or, given
    `gold_records` ({annotator: (right, asked)} check questions, `gold.gold_records`), those.
    """
    pairs = by_pair(votes)
    mine: dict[int, list[Vote]] = defaultdict(list)
    for vote in votes:
        mine[vote.rater].append(vote)
    return [
        _stats_of(
            rater, own, pairs, None if gold_records is None else gold_records.get(rater, (0, 0))
        )
        for rater, own in sorted(mine.items())
    ]


def _stats_of(
    rater: int,
    own: list[Vote],
    pairs: dict[int, list[Vote]],
    gold_record: tuple[int, int] | None = None,
) -> AnnotatorStats:
    from scipy.stats import binomtest

    agree = compared = 0
    for vote in own:
        others = Counter(v.choice for v in pairs[vote.pair_id] if v.rater != rater)
        consensus, _ = majority(others)
        if consensus is not None:
            compared += 1
            agree += consensus == vote.choice
    if gold_record is None:
        gold = [v.choice == v.gold for v in own if v.gold]
        gold_record = (sum(gold), len(gold))
    sided = [v for v in own if v.shown_left and v.choice in DECISIVE]
    left = sum(v.choice == v.shown_left for v in sided)
    seconds = [v.duration_ms / 1000 for v in own if v.duration_ms is not None]
    timed = len(seconds) >= MIN_TIMED
    return AnnotatorStats(
        rater=rater,
        judgements=len(own),
        agreement=Rate(agree, compared),
        gold=Rate(*gold_record),
        left=Rate(left, len(sided)),
        left_p_value=binomtest(left, len(sided)).pvalue if sided else None,
        tie_rate=sum(v.choice == Choice.TIE for v in own) / len(own),
        both_bad_rate=sum(v.choice == Choice.BOTH_BAD for v in own) / len(own),
        median_seconds=statistics.median(seconds) if timed else None,
        fast_share=sum(s < FAST_SECONDS for s in seconds) / len(seconds) if timed else None,
    )


def flag_annotators(stats: list[AnnotatorStats], *, gold_min_accuracy: float) -> None:
    """Set each annotator's `flags`: reasons in words to doubt their labels."""
    for s in stats:
        s.flags = _flags_of(s, stats, gold_min_accuracy)


def _flags_of(
    s: AnnotatorStats, everyone: list[AnnotatorStats], gold_min_accuracy: float
) -> list[str]:
    flags = []
    if s.left_p_value is not None and s.left_p_value < LEFT_BIAS_P:
        flags.append(
            f"chose the left side in {s.left.k} of {s.left.n} decisive judgements "
            f"(p = {s.left_p_value:.1e})"
        )
    # An interval (and a share) is None exactly when its n is 0.
    if (gold := s.gold.interval) is not None and gold[1] < gold_min_accuracy:
        flags.append(
            f"gold accuracy {s.gold.share:.0%} ({s.gold.k} of {s.gold.n}); even its upper "
            f"bound {gold[1]:.0%} is under the required {gold_min_accuracy:.0%}"
        )
    others = [o.agreement.share for o in everyone if o is not s and o.agreement.share is not None]
    if others and (agreement := s.agreement.interval) is not None:
        typical = statistics.median(others)
        if agreement[1] < typical - AGREEMENT_MARGIN:
            flags.append(
                f"agrees with the others' majority on {s.agreement.share:.0%} of pairs "
                f"({s.agreement.k} of {s.agreement.n}); the others: {typical:.0%}"
            )
    if s.median_seconds is not None and s.median_seconds < FAST_SECONDS:
        flags.append(f"median {s.median_seconds:.1f} s per judgement (under {FAST_SECONDS:.0f} s)")
    return flags


# ---------------------------------------------------------------- project level


def agreement_units(votes: Iterable[Vote], *, decisive_only: bool = False) -> list[list[str]]:
    """Each pair's choices, the units of alpha."""
    return [
        [v.choice for v in pair_votes if not decisive_only or v.choice in DECISIVE]
        for pair_votes in by_pair(votes).values()
    ]


def overall_left_rate(votes: Iterable[Vote]) -> Rate:
    sided = [v for v in votes if v.shown_left and v.choice in DECISIVE]
    return Rate(sum(v.choice == v.shown_left for v in sided), len(sided))


def votes_saved(votes_per_completed_pair: float | None, max_overlap: int) -> float:
    """The share of votes adaptive overlap saved against always collecting the maximum.

    Never negative: imported pairs may carry more votes than the project's maximum.
    """
    if not votes_per_completed_pair:
        return 0.0
    return max(0.0, 1 - votes_per_completed_pair / max_overlap)


# ---------------------------------------------------------------- selections


def analysis_judgements(project: Project, *, exclude_flagged: bool = False) -> QuerySet[Judgement]:
    """The valid judgements that count for analysis (quality), gold pairs included."""
    judgements = Judgement.objects.valid().filter(pair__project=project)
    if exclude_flagged:
        judgements = judgements.exclude(annotator_id__in=flagged_annotators(project))
    return judgements


def training_judgements(project: Project, *, exclude_flagged: bool = False) -> QuerySet[Judgement]:
    """What training snapshots and exports may use: never judgements on gold pairs, nor on the
    pair of an edit review found wanting (where the project takes edits)."""
    judgements = analysis_judgements(project, exclude_flagged=exclude_flagged)
    judgements = judgements.filter(pair__gold_label="")
    if project.edits != Edits.OFF or project.judge_edits:
        judgements = judgements.filter(
            pair__response_a__invalidated_at=None, pair__response_b__invalidated_at=None
        )
    return judgements


def project_votes(project: Project) -> list[Vote]:
    rows = analysis_judgements(project).values_list(
        "pair_id", "annotator_id", "choice", "shown_left", "duration_ms", "pair__gold_label"
    )
    return [
        Vote(pair_id, rater, choice, shown_left, duration, gold)
        for pair_id, rater, choice, shown_left, duration, gold in rows.iterator(chunk_size=5000)
        if rater is not None
    ]


def project_annotator_stats(
    project: Project, votes: list[Vote] | None = None
) -> list[AnnotatorStats]:
    """Per-annotator stats with flags, from the project's votes.

    Where a gold item may hold a gold ranking or gold criteria (a ranking project, or one with
    criteria), gold accuracy counts check questions as the pause does (`gold.gold_records`);
    a plain pairwise project's is its votes against the gold labels (the same figure).
    """
    records = None
    if project.comparison != Comparison.PAIRWISE or project.criteria:
        records = gold_records(project)
    stats = annotator_stats(project_votes(project) if votes is None else votes, records)
    flag_annotators(stats, gold_min_accuracy=project.gold_min_accuracy)
    return stats


def flagged_annotators(project: Project) -> set[int]:
    """Ids of annotators with at least one flag."""
    return {s.rater for s in project_annotator_stats(project) if s.flags}
