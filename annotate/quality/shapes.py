"""Label quality of what a judgement holds beyond one overall pairwise choice: criteria and
rankings.

Every vote is read as values on *units*. A pairwise vote (overall or a criterion's) is one
value on its pair: a, b, tie or both_bad, as the overall alpha reads it. A ranking of an item
is one value on each two of its responses, its *implied pairs*, said of the lower-id one:
better, worse or tie. Alpha, the agreement with the others' majority and the link between a
criterion and the overall vote are all taken over these units, so a ranking project's figures
read like a pairwise project's. The implied pairs of one ranking were judged in one look, so
project-level intervals resample whole items (or judgements), never implied pairs apart; the
per-annotator intervals are Wilson intervals over units, as the pairwise ones are, and are
narrower than they should be on rankings.

Criterion votes that review invalidated (`Judgement.invalid_criteria`) count nowhere here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from math import sqrt
from typing import Any, TypedDict

import numpy as np

from annotate.judging.shapes import Ranking
from annotate.models import Comparison, Project
from annotate.quality.judges import AgreementJSON
from annotate.quality.measures import (
    ALPHA_RESAMPLES,
    ALPHA_SEED,
    CHOICES,
    Rate,
    RateJSON,
    alpha_interval,
    analysis_judgements,
    krippendorff_alpha,
)

OVERALL = "overall"
# What a ranking says of an implied pair's lower-id response against the higher-id one.
BETTER, WORSE, TIE = "better", "worse", "tie"
DECISIVE_VALUES = frozenset({"a", "b", BETTER, WORSE})

# A unit: (item, lower response id, higher response id) for an implied pair, (item,) for a
# pairwise vote.
Unit = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ShapedVote:
    """One valid human judgement: its overall vote and its valid criterion votes."""

    pair_id: int
    rater: int
    overall: str | Ranking  # the canonical choice, or the ranking on a ranking project
    criteria: dict[str, str | Ranking] = field(default_factory=dict)
    shown_order: list[int] | None = None  # a ranking item's display order, when recorded

    def vote(self, name: str) -> str | Ranking | None:
        return self.overall if name == OVERALL else self.criteria.get(name)


# ---------------------------------------------------------------- units


def unit_values(pair_id: int, vote: str | Ranking | None) -> dict[Unit, str]:
    """A vote's value on each unit it speaks of (nothing for a missing vote)."""
    if vote is None:
        return {}
    if isinstance(vote, str):
        return {(pair_id,): vote}
    place = places(vote)
    values: dict[Unit, str] = {}
    for low, high in combinations(sorted(place), 2):
        if place[low] == place[high]:
            values[pair_id, low, high] = TIE
        else:
            values[pair_id, low, high] = BETTER if place[low] < place[high] else WORSE
    return values


def places(ranking: Ranking) -> dict[int, int]:
    """Each response's group index: 0 for the best group."""
    return {rid: index for index, group in enumerate(ranking) for rid in group}


# Each vote's unit values under one criterion (or OVERALL), in the order of the votes.
Readings = list[dict[Unit, str]]
# Each unit's (rater, value) under one criterion.
Units = dict[Unit, list[tuple[int, str]]]


def readings(votes: Iterable[ShapedVote], name: str) -> Readings:
    return [unit_values(vote.pair_id, vote.vote(name)) for vote in votes]


def units_of(votes: Sequence[ShapedVote], read: Readings) -> Units:
    """Each unit's (rater, value), from the votes' readings under one criterion."""
    units: Units = defaultdict(list)
    for vote, values in zip(votes, read, strict=True):
        for unit, value in values.items():
            units[unit].append((vote.rater, value))
    return units


# ---------------------------------------------------------------- alpha


class AlphaJSON(TypedDict):
    """Krippendorff's alpha (nominal) with its 95% bootstrap interval over items."""

    alpha: float | None
    interval: list[float] | None  # [low, high]
    units: int  # units with two or more votes: pairs, or implied pairs of ranking items


def alpha_of(units: Units) -> AlphaJSON:
    values = [[value for _, value in rated] for rated in units.values()]
    clusters = [unit[0] for unit in units]
    interval = alpha_interval(values, clusters=clusters)
    return {
        "alpha": krippendorff_alpha(values),
        "interval": None if interval is None else [*interval],
        "units": sum(len(v) >= 2 for v in values),
    }


# ---------------------------------------------------------------- ranking agreement


def kendall_tau(x: Ranking, y: Ranking) -> float | None:
    """Kendall's tau-b of two rankings (ties as groups) over the responses both rank; None
    where it is undefined (fewer than two responses, or one ranking ties them all)."""
    px, py = places(x), places(y)
    ids = sorted(px.keys() & py.keys())
    concordant = discordant = tied_x = tied_y = 0
    for u, v in combinations(ids, 2):
        dx, dy = px[u] - px[v], py[u] - py[v]
        tied_x += dx == 0
        tied_y += dy == 0
        if dx and dy:
            if (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    total = len(ids) * (len(ids) - 1) // 2
    denominator = sqrt((total - tied_x) * (total - tied_y))
    return (concordant - discordant) / denominator if denominator else None


class TauJSON(TypedDict):
    """Mean Kendall tau-b between two annotators' rankings of one item."""

    tau: float | None
    interval: list[float] | None  # 95% percentile bootstrap over items
    comparisons: int  # two annotators' rankings of one item with a defined tau
    items: int  # items with at least one such comparison


def ranking_agreement(votes: Iterable[ShapedVote], name: str) -> TauJSON:
    """Tau between every two annotators' rankings of one item under `name`, averaged."""
    per_item: dict[int, list[Ranking]] = defaultdict(list)
    for vote in votes:
        ranking = vote.vote(name)
        if isinstance(ranking, list):
            per_item[vote.pair_id].append(ranking)
    sums, counts = [], []
    for rankings in per_item.values():
        taus = [t for x, y in combinations(rankings, 2) if (t := kendall_tau(x, y)) is not None]
        if taus:
            sums.append(sum(taus))
            counts.append(len(taus))
    n = sum(counts)
    return {
        "tau": sum(sums) / n if n else None,
        "interval": ratio_interval(sums, counts),
        "comparisons": n,
        "items": len(counts),
    }


def ratio_interval(
    numerators: Sequence[float],
    denominators: Sequence[float],
    *,
    resamples: int = ALPHA_RESAMPLES,
    seed: int = ALPHA_SEED,
) -> list[float] | None:
    """95% percentile bootstrap of sum(numerators) / sum(denominators), clusters resampled."""
    if len(numerators) < 2:
        return None
    top = np.asarray(numerators, dtype=float)
    bottom = np.asarray(denominators, dtype=float)
    rng = np.random.default_rng(seed)
    size = len(top)
    # Resampled indexes are (resamples x clusters); chunks keep that under ~40 MB.
    chunk = max(1, 5_000_000 // size)
    ratios = []
    for start in range(0, resamples, chunk):
        drawn = rng.integers(0, size, size=(min(chunk, resamples - start), size))
        ratios.append(top[drawn].sum(axis=1) / bottom[drawn].sum(axis=1))
    values = np.concatenate(ratios)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


# ---------------------------------------------------------------- annotators


def reliability(raters: Iterable[int], by_name: Mapping[str, Units]) -> dict[int, dict[str, Rate]]:
    """Per annotator and criterion: units on which their value is the strict majority of the
    other annotators' values, of the units where the others have one."""
    found: dict[int, dict[str, Rate]] = {rater: {} for rater in sorted(raters)}
    for name, units in by_name.items():
        agree: Counter[int] = Counter()
        compared: Counter[int] = Counter()
        for rated in units.values():
            everyone = Counter(v for _, v in rated)  # one vote per annotator and judgement
            for rater, value in rated:
                consensus = _others_majority(everyone, value)
                if consensus is not None:
                    compared[rater] += 1
                    agree[rater] += consensus == value
        for rater, rates in found.items():
            rates[name] = Rate(agree[rater], compared[rater])
    return found


def _others_majority(everyone: Counter[str], own: str) -> str | None:
    """The strict majority of the votes but one of `own`, as `majority` says it."""
    best: str | None = None
    top = second = 0
    for value, count in everyone.items():
        count -= value == own
        if count > top:
            best, top, second = value, count, top
        elif count > second:
            second = count
    return best if top and top != second else None


# ---------------------------------------------------------------- display positions


class PositionJSON(TypedDict):
    """One display position of ranking items: how often its response was ranked best."""

    position: int  # 1: shown first
    best: RateJSON  # judgements whose response shown here was in the best group
    # With no position effect: the best group's size over the item's k, averaged (1/k
    # without ties).
    expected: float


def position_bias(votes: Iterable[ShapedVote]) -> list[PositionJSON]:
    """Per display position, the share of rankings that put its response in the best group."""
    hits: Counter[int] = Counter()
    trials: Counter[int] = Counter()
    expected: defaultdict[int, float] = defaultdict(float)
    for vote in votes:
        if not vote.shown_order or not isinstance(vote.overall, list) or not vote.overall:
            continue
        best = set(vote.overall[0])
        chance = len(best) / len(vote.shown_order)
        for position, rid in enumerate(vote.shown_order):
            trials[position] += 1
            hits[position] += rid in best
            expected[position] += chance
    return [
        {
            "position": position + 1,
            "best": Rate(hits[position], trials[position]).as_dict(),
            "expected": expected[position] / trials[position],
        }
        for position in sorted(trials)
    ]


# ---------------------------------------------------------------- criteria against overall


class OverallLinkJSON(TypedDict):
    """How closely one criterion's decisive votes follow the overall ones on one judgement."""

    # Units decisive under both (a/b, or better/worse on an implied pair) on which the
    # criterion and the overall vote agree; the interval is a bootstrap over judgements.
    agreement: AgreementJSON
    kappa: float | None  # Cohen's kappa of the two decisive votes (None: undefined)


def with_overall(criterion_read: Readings, overall_read: Readings) -> OverallLinkJSON:
    """A criterion's decisive votes against the overall decisive votes of the same
    judgements (readings of the same votes): "does this criterion just track the overall
    preference?"."""
    agree_per, compared_per = [], []
    table: Counter[tuple[str, str]] = Counter()
    for criterion, overall in zip(criterion_read, overall_read, strict=True):
        both = [
            (c, overall[unit])
            for unit, c in criterion.items()
            if c in DECISIVE_VALUES and overall.get(unit) in DECISIVE_VALUES
        ]
        if both:
            table.update(both)
            agree_per.append(sum(c == o for c, o in both))
            compared_per.append(len(both))
    k, n = sum(agree_per), sum(compared_per)
    return {
        "agreement": {
            "k": k,
            "n": n,
            "rate": k / n if n else None,
            "interval": ratio_interval(agree_per, compared_per),
        },
        "kappa": cohen_kappa(table),
    }


def cohen_kappa(table: Counter[tuple[str, str]]) -> float | None:
    """Cohen's kappa of paired labels counted as {(first, second): n}."""
    n = sum(table.values())
    if not n:
        return None
    first: Counter[str] = Counter()
    second: Counter[str] = Counter()
    for (x, y), count in table.items():
        first[x] += count
        second[y] += count
    observed = sum(count for (x, y), count in table.items() if x == y) / n
    chance = sum(first[c] * second[c] for c in first) / n**2
    return None if chance == 1 else (observed - chance) / (1 - chance)


# ---------------------------------------------------------------- the section


class CriterionQuality(TypedDict):
    """One criterion's figures."""

    name: str
    alpha: AlphaJSON
    tau: TauJSON | None  # ranking projects (criteria voted as rankings) only
    with_overall: OverallLinkJSON


class AnnotatorCriteriaJSON(TypedDict):
    """One annotator's agreement with the others' majority, per criterion."""

    id: int
    name: str
    # OVERALL first (on implied pairs for rankings), then the criteria in the project's order;
    # Wilson intervals over units.
    criteria: dict[str, RateJSON]


class ShapedQuality(TypedDict):
    """The quality report's `shapes` section, for projects with criteria or rankings."""

    comparison: str  # "pairwise" | "ranking"
    criteria: list[str]  # the project's criteria, in its order
    implied_pairs: AlphaJSON | None  # ranking: alpha over the overall rankings' implied pairs
    ranking_agreement: TauJSON | None  # ranking: tau between annotators' overall rankings
    per_criterion: list[CriterionQuality]
    positions: list[PositionJSON]  # ranking: per display position; pairwise: []
    annotators: list[AnnotatorCriteriaJSON]


def is_shaped(project: Project) -> bool:
    """Whether the report has a `shapes` section: the project has criteria or ranks."""
    return project.comparison == Comparison.RANKING or bool(project.criteria)


def shaped_quality(
    project: Project, votes: Sequence[ShapedVote], names: Callable[[int], str]
) -> ShapedQuality:
    """The section from the project's shaped votes; `names` gives an annotator's name."""
    ranking = project.comparison == Comparison.RANKING
    criteria = [c["name"] for c in project.criteria or []]
    read = {name: readings(votes, name) for name in [OVERALL, *criteria]}
    units = {name: units_of(votes, values) for name, values in read.items()}
    per_rater = reliability({v.rater for v in votes}, units)
    annotators: list[AnnotatorCriteriaJSON] = [
        {
            "id": rater,
            "name": names(rater),
            "criteria": {name: rate.as_dict() for name, rate in rates.items()},
        }
        for rater, rates in per_rater.items()
    ]
    return {
        "comparison": project.comparison,
        "criteria": criteria,
        "implied_pairs": alpha_of(units[OVERALL]) if ranking else None,
        "ranking_agreement": ranking_agreement(votes, OVERALL) if ranking else None,
        "per_criterion": [
            {
                "name": name,
                "alpha": alpha_of(units[name]),
                "tau": ranking_agreement(votes, name) if ranking else None,
                "with_overall": with_overall(read[name], read[OVERALL]),
            }
            for name in criteria
        ],
        "positions": position_bias(votes) if ranking else [],
        "annotators": sorted(annotators, key=lambda row: row["name"]),
    }


# ---------------------------------------------------------------- selection


def project_shaped_votes(project: Project) -> list[ShapedVote]:
    """The valid human judgements of analysis, their invalidated criterion votes left out.

    On a ranking project every vote is a ranking: a pairwise one (imported, say) is read as a
    ranking of the item's two responses, as the exports read it; "both bad" orders nothing.
    """
    ranking = project.comparison == Comparison.RANKING
    rows = (
        analysis_judgements(project)
        .filter(annotator_id__isnull=False)
        .order_by("pk")
        .values_list(
            "pair_id",
            "annotator_id",
            "choice",
            "ranking",
            "criteria",
            "invalid_criteria",
            "assignment__shown_order",
            "pair__response_a_id",
            "pair__response_b_id",
        )
    )
    votes = []
    for pair_id, rater, choice, ranked, criteria, invalid, shown, a, b in rows.iterator(
        chunk_size=5000
    ):
        read = _reader(ranking, a, b)
        overall = read(ranked if ranking and ranked is not None else choice)
        if overall is None:
            continue
        dropped = set(invalid) if isinstance(invalid, list) else set()
        kept = {}
        for name, value in (criteria if isinstance(criteria, dict) else {}).items():
            if name not in dropped and (vote := read(value)) is not None:
                kept[name] = vote
        order = shown if isinstance(shown, list) else None
        votes.append(ShapedVote(pair_id, rater, overall, kept, order))
    return votes


def _reader(ranking: bool, a: int, b: int) -> Callable[[Any], str | Ranking | None]:
    """Reads a stored vote: a ranking, or a choice (as a ranking of a and b on rankings)."""

    def read(value: Any) -> str | Ranking | None:
        if isinstance(value, list):
            groups = [g for g in value if isinstance(g, list) and g]
            return groups if groups and len(groups) == len(value) else None
        if not isinstance(value, str) or value not in CHOICES:
            return None
        if not ranking:
            return value
        return {"a": [[a], [b]], "b": [[b], [a]], "tie": [[a, b]]}.get(value)

    return read
