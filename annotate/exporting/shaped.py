"""Exports of what a judgement holds beyond one pairwise choice: rankings, a criterion's
preferences, absolute ratings (KTO) and edits (SFT).

- Preference pairs of a ranking project, or of one criterion (`criterion=NAME`), are decided
  per response pair by the majority of the votes on it, as a pairwise project's are: each
  ranking of an item votes on every two of its responses (the better one, or a tie when they
  share a group); a pair whose majority is a tie, or that has no strict majority, is left out.
  So with one ranking per item the export is exactly the ranking's decisive pairs.
- `rankings`: one row per valid ranking (a pairwise vote is a ranking of two; "both bad" says
  no order and is left out), its groups as indexes into `responses`; with `criterion=NAME`
  one row per vote of that criterion instead.
- `kto`: one row per rated response, `label` from its ratings' mean place on the project's
  scale (worst 0, best 1): above the middle is desirable (true), below it undesirable (false),
  exactly the middle (the middle value of an odd scale, or split ratings) is left out.
- `sft`: one row per distinct edit, the prompt and the improved response.
- `min_chosen_rating=VALUE` (trl, hh) leaves out a preference pair whose chosen response's
  ratings in that item's valid judgements have a mean place on the scale below VALUE's; a
  chosen response nobody rated there is kept.
- `with_edits` (trl, hh) adds each edit as the chosen response against every response of the
  item it was made on, the response it improves included: the edit beats both (each edit and
  response once, however many judgements carry the edit); the overall preferences only, not
  a criterion's. An edit is not rated where it was made, so `min_chosen_rating` keeps its rows.

A criterion's vote that review invalidated counts in none of that criterion's exports (the
rest of its judgement still counts), and an edit review found wanting leaves `sft`
(annotate/review/parts.py).

Gold checks are never exported; the AI judges' votes are overall pairwise votes, so they count
in neither a ranking project's pairs nor a criterion's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from itertools import combinations, islice
from typing import Any, NamedTuple

import orjson
from django.db.models import QuerySet

from annotate.judging.shapes import Ranking
from annotate.models import Choice, Comparison, Judgement, Pair, Project, RankedResponse, Response
from annotate.paging import stream_rows
from annotate.quality.measures import majority
from annotate.review.parts import counted_criteria

# Items whose texts are read together: two queries per batch, whatever the project's size.
BATCH = 500

Messages = list[dict[str, str]]


class BadExportOption(ValueError):
    """An export option this project cannot take; `field` names the option."""

    field = ""


class UnknownCriterion(BadExportOption):
    """An export asked for a criterion the project does not have."""

    field = "criterion"


class OffScaleRating(BadExportOption):
    """`min_chosen_rating` is not a value of the project's rating scale."""

    field = "min_chosen_rating"


class Decided(NamedTuple):
    """A preference pair of an export: the chosen and rejected responses' ids and texts."""

    pair_id: int
    messages: Messages
    chosen_id: int
    chosen: str
    rejected_id: int
    rejected: str
    margin: float | None  # the mean strength of the majority's votes, where one has it


def check_criterion(project: Project, criterion: str) -> None:
    if criterion and criterion not in {c["name"] for c in project.criteria}:
        names = ", ".join(c["name"] for c in project.criteria) or "none"
        raise UnknownCriterion(f"{criterion!r} is not a criterion of this project ({names})")


def rating_index(project: Project, text: str) -> int | None:
    """The position on the project's scale (0 the worst) of the value `text` spells (`3`,
    `good`); None for no text. Raises OffScaleRating for a value the scale lacks."""
    if not text:
        return None
    scale = project.rating_scale
    if not scale:
        raise OffScaleRating("this project has no rating scale")
    # A label is matched as it is spelled; a number by its digits (a label "1" before 1).
    for wanted in (str, int):
        for i, value in enumerate(scale):
            if type(value) is wanted and str(value) == text:
                return i
    values = ", ".join(str(v) for v in scale)
    raise OffScaleRating(f"{text!r} is not on this project's rating scale ({values})")


def uses_shaped_pairs(project: Project, criterion: str) -> bool:
    """Whether the preference pairs come from here (rankings, a criterion) or from the pairs'
    overall choices (exporting/datasets.py)."""
    return bool(criterion) or project.comparison == Comparison.RANKING


def decode_json(value: Any) -> Any:
    """A JSON column read raw is text; None stays None."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _votes(
    votes: QuerySet[Judgement], columns: tuple[str, ...]
) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
    """(pair id, its judgements' `columns`) in pair id order, from one streamed query."""
    rows = votes.order_by("pair_id", "pk").values_list("pair_id", *columns)
    current: int | None = None
    group: list[tuple[Any, ...]] = []
    for pair_id, *values in stream_rows(rows):
        if pair_id != current:
            if current is not None:
                yield current, group
            current, group = pair_id, []
        group.append(tuple(values))
    if current is not None:
        yield current, group


def _batches(
    groups: Iterable[tuple[int, list[tuple[Any, ...]]]],
) -> Iterator[list[tuple[int, list[tuple[Any, ...]]]]]:
    batch: list[tuple[int, list[tuple[Any, ...]]]] = []
    for group in groups:
        batch.append(group)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def ranking_items(pair_ids: list[int]) -> dict[int, tuple[Messages, list[int], dict[int, str]]]:
    """Each pair's prompt messages, response ids in item order and texts (two queries)."""
    pairs = Pair.objects.filter(pk__in=pair_ids).values_list(
        "pk", "prompt__messages", "response_a_id", "response_b_id"
    )
    found: dict[int, tuple[Messages, list[int], dict[int, str]]] = {}
    for pk, messages, a, b in pairs:
        found[pk] = (decode_json(messages), [a, b], {})
    members: dict[int, list[int]] = defaultdict(list)
    for pair_id, rid in (
        RankedResponse.objects.filter(pair_id__in=pair_ids)
        .order_by("pair_id", "position")
        .values_list("pair_id", "response_id")
    ):
        members[pair_id].append(rid)
    for pair_id, ids in members.items():
        found[pair_id] = (found[pair_id][0], ids, {})
    wanted = {rid for _, ids, _ in found.values() for rid in ids}
    texts = dict(Response.objects.filter(pk__in=wanted).values_list("pk", "text"))
    for _, ids, item_texts in found.values():
        item_texts.update((rid, texts[rid]) for rid in ids)
    return found


def _as_ranking(vote: Any, a: int, b: int) -> Ranking | None:
    """A vote as a ranking: a stored ranking, or a pairwise choice (a ranking of two)."""
    if isinstance(vote, list):
        return vote
    if vote == Choice.A:
        return [[a], [b]]
    if vote == Choice.B:
        return [[b], [a]]
    if vote == Choice.TIE:
        return [[a, b]]
    return None  # both bad, or no vote


def _vote_of(project: Project, row: tuple[Any, ...], criterion: str) -> Any:
    """The overall vote, or the criterion's where it counts; `row` is VOTE_COLUMNS' values."""
    choice, ranking, criteria, invalid = row
    if criterion:
        counted = counted_criteria(decode_json(criteria), decode_json(invalid))
        return counted.get(criterion)
    return decode_json(ranking) if project.comparison == Comparison.RANKING else choice


# What _vote_of reads of a judgement.
VOTE_COLUMNS = ("choice", "ranking", "criteria", "invalid_criteria")


def decided_pairs(
    project: Project, votes: QuerySet[Judgement], *, min_agreement: float, criterion: str = ""
) -> Iterator[Decided]:
    """Every response pair of an item that its votes decide (see the module's docstring), in
    item (pair id) order, without a margin."""
    groups = _votes(votes, VOTE_COLUMNS)
    for batch in _batches(groups):
        items = ranking_items([pair_id for pair_id, _ in batch])
        for pair_id, rows in batch:
            messages, ids, texts = items[pair_id]
            tallies: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
            for row in rows:
                vote = _vote_of(project, row, criterion)
                order = _as_ranking(vote, ids[0], ids[1])
                if order is None:
                    continue
                place = {rid: i for i, group in enumerate(order) for rid in group}
                for first, second in combinations(ids, 2):
                    if first in place and second in place:
                        tallies[first, second][_said(place[first], place[second])] += 1
            for (first, second), tally in tallies.items():
                winner, share = majority(tally)
                if winner in ("first", "second") and share >= min_agreement:
                    better, worse = (first, second) if winner == "first" else (second, first)
                    yield Decided(
                        pair_id, messages, better, texts[better], worse, texts[worse], None
                    )


def rated_indexes(
    project: Project, votes: QuerySet[Judgement]
) -> Iterator[tuple[int, dict[int, list[int]]]]:
    """(pair id, {response id: its ratings as positions on the scale}) in pair id order, from
    the ratings of `votes` (values off the scale are passed over, as in `kto`)."""
    index = {value: i for i, value in enumerate(project.rating_scale)}
    for pair_id, group in _votes(votes.filter(ratings__isnull=False), ("ratings",)):
        rated: dict[int, list[int]] = defaultdict(list)
        for (ratings,) in group:
            for rid, value in (decode_json(ratings) or {}).items():
                if type(value) in (int, str) and value in index:
                    rated[int(rid)].append(index[value])
        yield pair_id, rated


def edit_pairs(votes: QuerySet[Judgement]) -> Iterator[Decided]:
    """Each valid edit (review has not found it wanting) as chosen against every response of
    the item it was made on but itself; each (edit, response) once, without a margin."""
    rows = (
        votes.exclude(edit=None)
        .filter(edit__invalidated_at__isnull=True)
        .order_by("edit_id", "pair_id")
        .values_list("edit_id", "pair_id", "edit__text")
        .distinct()
    )
    streamed = iter(stream_rows(rows))
    current: int | None = None
    beaten: set[int] = set()
    while batch := list(islice(streamed, BATCH)):
        items = ranking_items(sorted({pair_id for _, pair_id, _ in batch}))
        for edit_id, pair_id, text in batch:
            if edit_id != current:
                current, beaten = edit_id, set()
            messages, ids, texts = items[pair_id]
            for rid in ids:
                if rid != edit_id and rid not in beaten:
                    beaten.add(rid)
                    yield Decided(pair_id, messages, edit_id, text, rid, texts[rid], None)


def _said(first: int, second: int) -> str:
    if first == second:
        return "tie"
    return "first" if first < second else "second"


def iter_ranking_rows(
    project: Project, votes: QuerySet[Judgement], *, conversational: bool, criterion: str = ""
) -> Iterator[dict[str, Any]]:
    """`{"prompt", "responses", "ranking", "annotator"}`: one row per valid ranking, or per
    counted vote of `criterion`."""
    from annotate.exporting.datasets import _pseudonym  # datasets imports this module

    salt = project.pseudonym_salt
    groups = _votes(votes, (*VOTE_COLUMNS, "annotator_id"))
    for batch in _batches(groups):
        items = ranking_items([pair_id for pair_id, _ in batch])
        for pair_id, rows in batch:
            messages, ids, texts = items[pair_id]
            index = {rid: i for i, rid in enumerate(ids)}
            for *row, annotator_id in rows:
                choice, ranking = row[0], decode_json(row[1])
                vote = _vote_of(project, tuple(row), criterion) if criterion else ranking or choice
                order = _as_ranking(vote, ids[0], ids[1])
                if order is None:
                    continue
                yield {
                    "prompt": messages if conversational else messages[-1]["content"],
                    "responses": [texts[rid] for rid in ids],
                    "ranking": [sorted(index[rid] for rid in group) for group in order],
                    "annotator": _pseudonym(salt, annotator_id),
                }


def kto_label(places: list[float]) -> bool | None:
    """Desirable when the mean place on the scale (0 worst, 1 best) is above the middle,
    undesirable below it, None (left out) exactly on it."""
    mean = sum(places) / len(places)
    return None if mean == 0.5 else mean > 0.5


def iter_kto_rows(
    project: Project, votes: QuerySet[Judgement], *, conversational: bool
) -> Iterator[dict[str, Any]]:
    """`{"prompt", "completion", "label"}`: one row per rated response."""
    scale = project.rating_scale
    if len(scale) < 2:
        return
    place = {value: i / (len(scale) - 1) for i, value in enumerate(scale)}
    rated: dict[int, list[float]] = defaultdict(list)
    rows = votes.filter(ratings__isnull=False).order_by("pk").values_list("ratings")
    for (ratings,) in stream_rows(rows):
        for rid, value in (decode_json(ratings) or {}).items():
            if value in place:
                rated[int(rid)].append(place[value])
    ids = sorted(rated)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        responses = Response.objects.filter(pk__in=chunk).values_list(
            "pk", "text", "prompt__messages"
        )
        for rid, text, messages in sorted(responses):
            label = kto_label(rated[rid])
            if label is not None:
                row = _completion_row(decode_json(messages), text, conversational)
                yield row | {"label": label}


def iter_sft_rows(
    project: Project, votes: QuerySet[Judgement], *, conversational: bool
) -> Iterator[dict[str, Any]]:
    """`{"prompt", "completion"}`: one row per distinct edit that review has not found
    wanting."""
    edits = (
        votes.exclude(edit=None)
        .filter(edit__invalidated_at__isnull=True)
        .order_by("edit_id")
        .values_list("edit_id", "edit__text", "edit__prompt__messages")
        .distinct()
    )
    for _, text, messages in stream_rows(edits):
        yield _completion_row(decode_json(messages), text, conversational)


def _completion_row(messages: Messages, text: str, conversational: bool) -> dict[str, Any]:
    if conversational:
        return {"prompt": messages, "completion": [{"role": "assistant", "content": text}]}
    return {"prompt": messages[-1]["content"], "completion": text}
