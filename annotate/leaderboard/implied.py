"""The votes of rankings and criteria as the leaderboard counts them: implied pairs, weighted.

A ranking of k responses says, of every two of them, which is better (or that they tie, when
they share a group): k(k-1)/2 implied pairs. Each implied pair weighs 2/k, so one ranking of k
counts as k-1 pairwise votes in all: as much as the k-1 votes on its neighbouring responses,
the fewest pairwise votes that establish the same order (a ranking of two is one vote, as a
pairwise vote is). Counting every implied pair as a vote of its own would let one look at 8
responses weigh as 28 votes; weighting them uniformly keeps the fit consistent (all pairs of
a ranking are broken alike). A tie inside a ranking is a tie, half a win for each side, as on
the pairwise board. The bootstrap draws a ranking's pairs together (bradley_terry.py).

A criterion's board counts each judgement's vote on that criterion (a pairwise choice, or a
ranking expanded as above) instead of the overall one; a vote review invalidated for the
criterion (`Judgement.invalid_criteria`) counts nowhere. The AI judges give overall pairwise
votes only, so they count on the overall board alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import combinations
from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Length

from annotate.leaderboard.bradley_terry import CHOICE_CODES, ImpliedRow, VoteRow
from annotate.models import Judgement, Response

# Judgements whose rankings' responses are read together: one query per batch.
BATCH = 2000

Ranking = list[list[int]]


def pair_weight(k: int) -> float:
    """The weight of each implied pair of a ranking of k responses (k - 1 votes in all)."""
    return 2.0 / k


def ranking_rows(
    ranking: Ranking, models: dict[int, str], lengths: dict[int, int], cluster: int
) -> Iterator[ImpliedRow]:
    """Every implied pair of one ranking, the better response first ("a"), or a "tie"."""
    weight = pair_weight(sum(len(group) for group in ranking))

    def row(choice: str, u: int, v: int) -> ImpliedRow:
        model_u, model_v = models.get(u, ""), models.get(v, "")
        return choice, model_u, model_v, lengths.get(u, 0), lengths.get(v, 0), weight, cluster

    for index, group in enumerate(ranking):
        for u, v in combinations(group, 2):
            yield row("tie", u, v)
        for later in ranking[index + 1 :]:
            for u in group:
                for v in later:
                    yield row("a", u, v)


def shaped_vote_rows(
    judgements: QuerySet[Judgement], *, criterion: str = ""
) -> Iterator[VoteRow | ImpliedRow]:
    """Vote rows of the counted judgements (annotated as `counted_judgements` does): each
    ranking's implied pairs, each pairwise choice as one vote; of `criterion` when named."""
    rows = judgements.order_by("pk").values_list(
        "pk",
        "choice",
        "ranking",
        "criteria",
        "invalid_criteria",
        "vote_model_a",
        "vote_model_b",
        "pair__response_a_id",
        "pair__response_b_id",
        Length("pair__response_a__text"),
        Length("pair__response_b__text"),
    )
    batch: list[tuple[Any, ...]] = []
    for row in rows.iterator(chunk_size=BATCH):
        batch.append(row)
        if len(batch) >= BATCH:
            yield from _batch_rows(batch, criterion)
            batch = []
    if batch:
        yield from _batch_rows(batch, criterion)


def _vote(choice: str, ranking: Any, criteria: Any, invalid: Any, criterion: str) -> Any:
    """The judgement's vote that this board counts: overall, or on the criterion."""
    if not criterion:
        return ranking if ranking is not None else choice
    if criterion in (invalid or ()):
        return None
    return (criteria or {}).get(criterion)


def _batch_rows(batch: Iterable[tuple[Any, ...]], criterion: str) -> Iterator[VoteRow | ImpliedRow]:
    votes: list[tuple[int, Ranking | None, list[Any]]] = []
    wanted: set[int] = set()
    for pk, choice, ranking, criteria, invalid, *pair in batch:
        vote = _vote(choice, ranking, criteria, invalid, criterion)
        if isinstance(vote, list):
            wanted.update(rid for group in vote for rid in group)
            votes.append((pk, vote, pair))
        elif vote in CHOICE_CODES:
            model_a, model_b, _, _, length_a, length_b = pair
            votes.append((pk, None, [vote, model_a, model_b, length_a, length_b]))
    responses = Response.objects.filter(pk__in=wanted).values_list(
        "pk", "model_name", Length("text")
    )
    models: dict[int, str] = {}
    lengths: dict[int, int] = {}
    for rid, model, length in responses:
        models[rid], lengths[rid] = model, length
    for pk, ranking, pair in votes:
        if ranking is None:
            choice, model_a, model_b, length_a, length_b = pair
            yield choice, model_a, model_b, length_a, length_b
            continue
        model_a, model_b, a, b, length_a, length_b = pair
        # The vote's own models for the pair's two responses (its source row may name them).
        item_models = {rid: models.get(rid, "") for group in ranking for rid in group}
        item_models.update({a: model_a, b: model_b})
        yield from ranking_rows(ranking, item_models, lengths, cluster=pk)
