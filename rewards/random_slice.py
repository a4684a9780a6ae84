"""Does the loop pay here? Each version's accuracy on the random slice of the queue.

When a model orders the queue, the pairs it picks are not a fair test of it (uncertainty
sampling picks the hard ones). A share of leases is served in random order instead
(`Assignment.random_slice`, annotate/queue.py); judgements on those pairs, made after a version
was trained, estimate that version's accuracy on the project's pairs without that bias.

A ranking project is scored on its items' decisive implied pairs, as training sees them
(rewards/worker/snapshot.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Max, Q, QuerySet

from annotate.models import Choice, Comparison, Judgement, Project
from annotate.quality.measures import training_judgements
from rewards.models import ResponseScore, RewardModel
from rewards.pair_ids import item_of, responses_of

if TYPE_CHECKING:  # the model side stays out of web processes' imports
    from rewards.ml.data import PreferencePair

Z95 = 1.959963984540054
# The stored statistic's kind (annotate/statistics.py): a worker computes the tables.
RANDOM_SLICE = "random_slice"
# Versions whose random-slice accuracy is computed (each costs a pass over the judgements).
SLICE_VERSIONS = 10


@dataclass(frozen=True)
class SliceSummary:
    """A version's accuracy on some fresh decided judgements."""

    n: int
    accuracy: float | None
    interval: list[float] | None  # 95% Wilson, percent


@dataclass(frozen=True)
class SliceEstimate:
    """Accuracy on random-slice judgements (unbiased) and on the pairs the model chose."""

    random_slice: SliceSummary
    model_chosen: SliceSummary


def decided_judgements(project: Project) -> QuerySet[Judgement]:
    """Decided judgements that training would use (ties and both-bad say nothing about order).

    The same selection as training: valid votes, no gold checks, flagged annotators left out
    where the project says so.
    """
    selection = training_judgements(project, exclude_flagged=project.exclude_flagged_from_training)
    return selection.filter(choice__in=[Choice.A, Choice.B])


def wilson_interval(hits: int, n: int) -> list[float] | None:
    """95% Wilson score interval of a proportion, in percent."""
    return _wilson(hits / n, n) if n else None


def _wilson(p: float, n: int) -> list[float]:
    """The Wilson interval of proportion p as if observed on n independent trials."""
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return [round(100 * (centre - half), 1), round(100 * (centre + half), 1)]


def slice_estimates(project: Project, models: list[RewardModel]) -> dict[int, SliceEstimate]:
    """Per version id: accuracy on random-slice vs model-chosen judgements made after it.

    Only judgements newer than the version's training snapshot count (it never saw them), and
    only pairs whose two responses it scored. A ranking project: see `_ranking_estimates`.
    """
    if project.comparison == Comparison.RANKING:
        return _ranking_estimates(project, models)
    rows = list(
        decided_judgements(project).values_list(
            "pk", "choice", "pair__response_a_id", "pair__response_b_id", "assignment__random_slice"
        )
    )
    estimates = {}
    for model in models:
        fresh = [row for row in rows if row[0] > model.last_judgement_id]
        responses = {rid for row in fresh for rid in row[2:4]}
        rewards = dict(
            ResponseScore.objects.filter(model=model, response_id__in=responses).values_list(
                "response_id", "mean"
            )
        )
        tallies = {True: [0, 0], False: [0, 0]}
        for _, choice, a, b, in_slice in fresh:
            if a in rewards and b in rewards and rewards[a] != rewards[b]:
                tally = tallies[bool(in_slice)]
                tally[0] += (rewards[a] > rewards[b]) == (choice == Choice.A)
                tally[1] += 1
        estimates[model.pk] = SliceEstimate(
            random_slice=_summary(*tallies[True]), model_chosen=_summary(*tallies[False])
        )
    return estimates


def _ranking_estimates(project: Project, models: list[RewardModel]) -> dict[int, SliceEstimate]:
    """Per version id: accuracy on the decisive implied pairs of ranking items judged after it.

    Per item and lease kind, the majority of that kind's fresh rankings decides each implied
    pair (ties and splits left out), by the snapshot's own rule; each decisive pair the version
    scored apart counts once in `n` and `accuracy`. Pairs of one item share its rankings, so
    they are not independent: the interval counts per item, the Wilson interval of the
    accuracy on as many trials as items scored (conservative where an item's pairs agree less
    than fully). A judgement without a lease (imported) counts as model-chosen, as pairwise.
    """
    from rewards.worker.snapshot import BATCH, implied_pairs, item_votes, load_items

    selection = training_judgements(project, exclude_flagged=project.exclude_flagged_from_training)
    kinds = {True: Q(assignment__random_slice=True), False: ~Q(assignment__random_slice=True)}
    fresh_votes = {
        model.pk: {
            in_slice: item_votes(
                project, selection.filter(leased, pk__gt=model.last_judgement_id), ""
            )
            for in_slice, leased in kinds.items()
        }
        for model in models
    }
    ids = sorted({pid for by_kind in fresh_votes.values() for v in by_kind.values() for pid in v})
    items: dict[int, Any] = {}
    for first in range(0, len(ids), BATCH):
        items.update(load_items(ids[first : first + BATCH]))
    responses = {rid for _, members, _, _ in items.values() for rid in members}
    estimates = {}
    for model in models:
        rewards = dict(
            ResponseScore.objects.filter(model=model, response_id__in=responses).values_list(
                "response_id", "mean"
            )
        )
        summaries = {}
        for in_slice, votes in fresh_votes[model.pk].items():
            per_item = []
            for pid, its_votes in votes.items():
                hits = n = 0
                for pair in implied_pairs(pid, items[pid], its_votes):
                    x, y = responses_of(pair.id) or (0, 0)  # an implied pair's id names both
                    if x in rewards and y in rewards and rewards[x] != rewards[y]:
                        hits += (rewards[x] > rewards[y]) == (pair.label == "a")
                        n += 1
                if n:
                    per_item.append((hits, n))
            summaries[in_slice] = _item_summary(per_item)
        estimates[model.pk] = SliceEstimate(
            random_slice=summaries[True], model_chosen=summaries[False]
        )
    return estimates


def compute_slice_tables(project: Project, options: dict[str, str]) -> dict[str, Any]:
    """The latest versions' estimates as JSON, by version id (a worker's job)."""
    models = list(RewardModel.objects.filter(project=project).order_by("-version")[:SLICE_VERSIONS])
    return {str(pk): asdict(estimate) for pk, estimate in slice_estimates(project, models).items()}


def estimates_from_json(payload: dict[str, Any]) -> dict[int, SliceEstimate]:
    """The stored tables back as estimates, by version id."""
    return {
        int(pk): SliceEstimate(
            random_slice=SliceSummary(**row["random_slice"]),
            model_chosen=SliceSummary(**row["model_chosen"]),
        )
        for pk, row in payload.items()
    }


def models_state(sender: Any, project: Project, kind: str, **kwargs: Any) -> str:
    """What the stored statistics read of the model side: the versions, what they were trained
    on, the served one and when one was last scored (`annotate.statistics.statistics_state`)."""
    versions = RewardModel.objects.filter(project=project).aggregate(
        last=Max("pk"),
        trained_on=Max("last_judgement_id"),
        served=Max("pk", filter=Q(is_active=True)),
        reranked=Max("reranked_at"),
    )
    if versions["last"] is None:
        return ""
    reranked = versions["reranked"].timestamp() if versions["reranked"] else 0
    return "m{}t{}s{}r{:.0f}".format(
        versions["last"], versions["trained_on"], versions["served"] or 0, reranked
    )


def _summary(hits: int, n: int) -> SliceSummary:
    return SliceSummary(
        n=n, accuracy=round(hits / n, 4) if n else None, interval=wilson_interval(hits, n)
    )


def _item_summary(per_item: list[tuple[int, int]]) -> SliceSummary:
    """Accuracy over every scored pair; its interval as if each (hits, n) item were one trial."""
    hits, n = sum(h for h, _ in per_item), sum(n for _, n in per_item)
    return SliceSummary(
        n=n,
        accuracy=round(hits / n, 4) if n else None,
        interval=_wilson(hits / n, len(per_item)) if n else None,
    )


def split_by_lease_kind(
    pairs: list[PreferencePair],
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(model-chosen, random-slice) training pairs by how their human judgements were leased.

    A pair judged on any random-slice lease counts as random (a ranking item's implied pairs
    by their item's leases); imported judgements (no lease) and pairs whose id names no item
    count as neither.
    """
    items = {p.id: item_of(p.id) for p in pairs}
    kinds: dict[int, bool] = {}
    for pair_id, in_slice in Judgement.objects.filter(
        pair_id__in={pid for pid in items.values() if pid is not None}, assignment__isnull=False
    ).values_list("pair_id", "assignment__random_slice"):
        kinds[pair_id] = kinds.get(pair_id, False) or in_slice

    def kind(p: PreferencePair) -> bool | None:
        item = items[p.id]
        return None if item is None else kinds.get(item)

    chosen = [p for p in pairs if kind(p) is False]
    random_slice = [p for p in pairs if kind(p) is True]
    return chosen, random_slice
