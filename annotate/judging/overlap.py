"""Adaptive overlap applied to pairs: how many votes a pair still wants, and when it is done.

The rule itself is `quality.needs_another_vote`; this module writes its outcome on pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

from annotate.models import Pair, PairStatus, Project
from annotate.quality.measures import analysis_judgements, needs_another_vote, unanimous_label


def minimum(pair: Pair, project: Project) -> int:
    """The votes the pair needs at least: the project's, or fewer where AI judges agreed."""
    return pair.min_votes or project.judgements_per_pair


def target(pair: Pair, project: Project) -> int:
    """The votes this pair wants now."""
    return minimum(pair, project) + pair.extra_judgements


def settling_reads_votes(project: Project) -> bool:
    """Whether a pair at its target is settled by its votes (adaptive overlap, or gold made
    from unanimous votes); otherwise reaching the target completes it."""
    return project.max_overlap > project.judgements_per_pair or project.gold_from_unanimous


def settle(pair: Pair, project: Project, choices: Sequence[str]) -> None:
    """Set the pair's count, status and extra votes from its choices (not saved).

    A pair short of its votes, or whose votes disagree below the maximum, stays pending and
    wants one vote more than it has.
    """
    least = minimum(pair, project)
    pair.judgement_count = len(choices)
    if needs_another_vote(choices, minimum=least, maximum=max(least, project.max_overlap)):
        pair.status = PairStatus.PENDING
        pair.extra_judgements = max(0, len(choices) + 1 - least)
    else:
        pair.status = PairStatus.COMPLETE
        pair.extra_judgements = max(0, len(choices) - least)
        if project.gold_from_unanimous and not pair.gold_label:
            pair.gold_label = unanimous_label(choices)


def settle_pairs(project: Project, pair_ids: set[int]) -> None:
    """Recount and settle the given pairs (after votes were imported)."""
    choices: dict[int, list[str]] = {pid: [] for pid in pair_ids}
    rows = (
        analysis_judgements(project).filter(pair_id__in=pair_ids).values_list("pair_id", "choice")
    )
    for pair_id, choice in rows:
        choices[pair_id].append(choice)
    pairs = list(
        Pair.objects.filter(pk__in=pair_ids).only(
            "id", "judgement_count", "status", "gold_label", "min_votes"
        )
    )
    for pair in pairs:
        settle(pair, project, choices[pair.pk])
    Pair.objects.bulk_update(
        pairs, ["judgement_count", "status", "extra_judgements", "gold_label"], batch_size=1000
    )
