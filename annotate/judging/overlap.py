"""Adaptive overlap applied to pairs: how many votes a pair still wants, and when it is done.

The rule itself is `quality.needs_another_vote`; this module writes its outcome on pairs.

A ranking item settles on the agreement of its implied pairs: every two of its responses get
one vote from each ranking (which is better, or a tie when they share a group), and the item
wants another vote while any of those pairs would under the pairwise rule, up to the maximum.
So it is done early only when its rankings agree on every pair, that is when they are the same
ranking; for two responses this is the pairwise rule. A vote without a ranking (an AI judge's,
an imported pairwise one) speaks only of the item's response_a against response_b. Gold from
unanimous votes takes a ranking item only when its rankings are the same (and order something),
and then takes that ranking as its gold ranking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations

from annotate.judging.shapes import Ranking, implied_choice
from annotate.models import Comparison, Judgement, Pair, PairStatus, Project
from annotate.quality.measures import analysis_judgements, needs_another_vote, unanimous_label

# What `settle` may change, for `save(update_fields=...)` and `bulk_update`.
SETTLED_FIELDS = ["judgement_count", "status", "extra_judgements", "gold_label", "gold_ranking"]


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


def settle(
    pair: Pair,
    project: Project,
    choices: Sequence[str],
    rankings: Sequence[Ranking | None] | None = None,
) -> None:
    """Set the pair's count, status and extra votes from its choices (not saved).

    `rankings`, one per choice (None where a vote has none), are a ranking item's votes.
    A pair short of its votes, or whose votes disagree below the maximum, stays pending and
    wants one vote more than it has.
    """
    least = minimum(pair, project)
    pair.judgement_count = len(choices)
    ranked = [r for r in rankings or () if r is not None]
    if _wants_vote(choices, ranked, least=least, most=max(least, project.max_overlap)):
        pair.status = PairStatus.PENDING
        pair.extra_judgements = max(0, len(choices) + 1 - least)
    else:
        pair.status = PairStatus.COMPLETE
        pair.extra_judgements = max(0, len(choices) - least)
        if project.gold_from_unanimous and not pair.gold_label:
            _gold_from_votes(pair, choices, ranked, all_ranked=len(ranked) == len(choices))


def _wants_vote(
    choices: Sequence[str], rankings: Sequence[Ranking], *, least: int, most: int
) -> bool:
    if needs_another_vote(choices, minimum=least, maximum=most):
        return True
    if len(choices) >= most:
        return False
    return any(
        needs_another_vote(said, minimum=0, maximum=most) for said in implied_votes(rankings)
    )


def implied_votes(rankings: Sequence[Ranking]) -> list[list[str]]:
    """Per two responses ranked together, what each ranking says of them ("a": the lower id
    is better, "b", or "tie")."""
    said: dict[tuple[int, int], list[str]] = defaultdict(list)
    for ranking in rankings:
        ids = sorted(rid for group in ranking for rid in group)
        for first, second in combinations(ids, 2):
            said[first, second].append(implied_choice(ranking, first, second))
    return list(said.values())


def _gold_from_votes(
    pair: Pair, choices: Sequence[str], rankings: Sequence[Ranking], *, all_ranked: bool
) -> None:
    label = unanimous_label(choices)
    if not label or not rankings:
        pair.gold_label = label
        return
    first = rankings[0]
    if all_ranked and len(first) > 1 and all(r == first for r in rankings):
        pair.gold_label = label
        pair.gold_ranking = first


def votes(pair: Pair, project: Project) -> tuple[list[str], list[Ranking | None] | None]:
    """The pair's valid choices, and a ranking project's rankings beside them (one query)."""
    valid = Judgement.objects.valid().filter(pair=pair)
    if project.comparison != Comparison.RANKING:
        return list(valid.values_list("choice", flat=True)), None
    rows = list(valid.values_list("choice", "ranking"))
    return [choice for choice, _ in rows], [ranking for _, ranking in rows]


def settle_from_votes(pair: Pair, project: Project) -> None:
    """Settle the pair on its valid votes as they are now (one query; not saved)."""
    settle(pair, project, *votes(pair, project))


def settle_pairs(project: Project, pair_ids: set[int]) -> None:
    """Recount and settle the given pairs (after votes were imported)."""
    choices: dict[int, list[str]] = {pid: [] for pid in pair_ids}
    rankings: dict[int, list[Ranking | None]] = {pid: [] for pid in pair_ids}
    judgements = analysis_judgements(project).filter(pair_id__in=pair_ids)
    if project.comparison == Comparison.RANKING:
        for pair_id, choice, ranking in judgements.values_list("pair_id", "choice", "ranking"):
            choices[pair_id].append(choice)
            rankings[pair_id].append(ranking)
    else:
        for pair_id, choice in judgements.values_list("pair_id", "choice"):
            choices[pair_id].append(choice)
    pairs = list(
        Pair.objects.filter(pk__in=pair_ids).only(
            "id", "judgement_count", "status", "gold_label", "gold_ranking", "min_votes"
        )
    )
    for pair in pairs:
        settle(pair, project, choices[pair.pk], rankings[pair.pk] or None)
    Pair.objects.bulk_update(pairs, SETTLED_FIELDS, batch_size=1000)
