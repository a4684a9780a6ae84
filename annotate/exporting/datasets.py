"""Exporting a project's preferences as TRL, HH-RLHF or per-judgement rows, streamed.

Where votes record a graded strength (1 slightly, 2 better, 3 much better), the overall `trl`
export of a pairwise project has a `margin` column for TRL's RewardTrainer, whose loss is
-log sigmoid(r_chosen - r_rejected - margin): a pair's margin is the mean strength of its
majority's votes that have one (so 1.0 to 3.0, the scale Llama 2 used for "slightly better"
to "significantly better"), and 0.0, TRL's loss without a margin, where none of them has one.
TRL needs a number in every row once the column exists, so it is all or nothing per file.
Rankings and criteria have no strength: their exports have no margin.

`min_chosen_rating` and `with_edits` (trl, hh) read the ratings and edits the judgements hold
(exporting/shaped.py): rows whose chosen response is rated below a value of the scale leave,
and each edit comes in as chosen over the responses of the item it improves.

Each export is one streamed query (a server-side cursor on PostgreSQL) read as plain tuples, so
memory stays flat whatever the size of the project and no ORM object is built per row.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
import pyarrow as pa
from django.db.models import Count, Q, QuerySet, Sum
from django.http import StreamingHttpResponse

from annotate.exporting.shaped import (
    Decided,
    check_criterion,
    decided_pairs,
    decode_json,
    edit_pairs,
    iter_kto_rows,
    iter_ranking_rows,
    iter_sft_rows,
    ranking_items,
    rated_indexes,
    rating_index,
    uses_shaped_pairs,
)
from annotate.formats import jsonl_chunks, parquet_chunks, render_hh_transcript
from annotate.models import Choice, Comparison, Edits, Judgement, Pair, Project, Prompt
from annotate.paging import stream_rows
from annotate.quality.measures import majority, training_judgements
from annotate.review.parts import counted_criteria
from annotate.signals import judge_votes

EXPORT_FORMATS = ("trl", "hh", "judgements", "rankings", "kto", "sft")
FILE_TYPES = ("jsonl", "parquet")

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SCHEMAS = {
    "trl": pa.schema([("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())]),
    "trl_conversational": pa.schema(
        [("prompt", _MESSAGES), ("chosen", _MESSAGES), ("rejected", _MESSAGES)]
    ),
    "trl_margin": pa.schema(
        [
            ("prompt", pa.string()),
            ("chosen", pa.string()),
            ("rejected", pa.string()),
            ("margin", pa.float64()),
        ]
    ),
    "trl_conversational_margin": pa.schema(
        [
            ("prompt", _MESSAGES),
            ("chosen", _MESSAGES),
            ("rejected", _MESSAGES),
            ("margin", pa.float64()),
        ]
    ),
    "hh": pa.schema([("chosen", pa.string()), ("rejected", pa.string())]),
    "judgements": pa.schema(
        [
            ("pair_id", pa.int64()),
            ("pair_external_id", pa.string()),
            ("annotator", pa.string()),
            ("source", pa.string()),
            ("choice", pa.string()),
            ("shown_left", pa.string()),
            ("strength", pa.int64()),
            ("rationale", pa.string()),
            ("duration_ms", pa.int64()),
            ("created_at", pa.string()),
        ]
    ),
    "rankings": pa.schema(
        [
            ("prompt", pa.string()),
            ("responses", pa.list_(pa.string())),
            ("ranking", pa.list_(pa.list_(pa.int64()))),
            ("annotator", pa.string()),
        ]
    ),
    "rankings_conversational": pa.schema(
        [
            ("prompt", _MESSAGES),
            ("responses", pa.list_(pa.string())),
            ("ranking", pa.list_(pa.list_(pa.int64()))),
            ("annotator", pa.string()),
        ]
    ),
    "kto": pa.schema([("prompt", pa.string()), ("completion", pa.string()), ("label", pa.bool_())]),
    "kto_conversational": pa.schema(
        [("prompt", _MESSAGES), ("completion", _MESSAGES), ("label", pa.bool_())]
    ),
    "sft": pa.schema([("prompt", pa.string()), ("completion", pa.string())]),
    "sft_conversational": pa.schema([("prompt", _MESSAGES), ("completion", _MESSAGES)]),
}


def export_chunks(
    project: Project,
    *,
    fmt: str,
    file_type: str = "jsonl",
    min_agreement: float = 0.0,
    exclude_flagged: bool = False,
    criterion: str = "",
    min_chosen_rating: str = "",
    with_edits: bool = False,
) -> Iterator[bytes]:
    """Yield the encoded export file in chunks."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if file_type not in FILE_TYPES:
        raise ValueError(f"unknown file type {file_type!r}; use jsonl or parquet")
    rows, schema_name = export_rows(
        project,
        fmt=fmt,
        min_agreement=min_agreement,
        exclude_flagged=exclude_flagged,
        criterion=criterion,
        min_chosen_rating=min_chosen_rating,
        with_edits=with_edits,
    )
    if file_type == "parquet":
        return parquet_chunks(rows, export_schema(project, schema_name))
    return jsonl_chunks(rows)


def export_schema(project: Project, schema_name: str) -> pa.Schema:
    """The Parquet schema of an export: the `judgements` one grows with the project's shape."""
    if schema_name != "judgements":
        return SCHEMAS[schema_name]
    schema = SCHEMAS["judgements"]
    ranked = project.comparison == Comparison.RANKING
    for name, kind in shape_columns(project, ranked and uses_conversational_form(project)):
        schema = schema.append(pa.field(name, kind))
    return schema


def shape_columns(project: Project, conversational: bool) -> list[tuple[str, pa.DataType]]:
    """The `judgements` columns a project's judgement settings add, in order.

    A ranking project's rows name their item by `prompt` and `responses` (texts in the item's
    order, as the `rankings` export does) and hold `ranking`, groups of indexes into
    `responses`. Each criterion is a column `criterion_NAME`: a choice in a/b terms, or on a
    ranking project a ranking like `ranking`; null where review invalidated the vote.
    `ratings` lists each response's rating in item
    order (a pair's: a, b), null where unrated; integers when the scale is all integers, else
    text. Where the project takes edits, `edit` is the annotator's improved text and `edit_of`
    the position of the response it improves (null without an edit, or where review found
    the edit wanting).
    """
    ranking = project.comparison == Comparison.RANKING
    positions = pa.list_(pa.list_(pa.int64()))
    columns: list[tuple[str, pa.DataType]] = []
    if ranking:
        prompt = _MESSAGES if conversational else pa.string()
        texts = pa.list_(pa.string())
        columns += [("prompt", prompt), ("responses", texts), ("ranking", positions)]
    for criterion in project.criteria:
        columns.append((f"criterion_{criterion['name']}", positions if ranking else pa.string()))
    if project.rating_scale:
        numeric = all(isinstance(v, int) for v in project.rating_scale)
        columns.append(("ratings", pa.list_(pa.int64() if numeric else pa.string())))
    if project.edits != Edits.OFF:
        columns += [("edit", pa.string()), ("edit_of", pa.int64())]
    return columns


def export_response(
    project: Project,
    *,
    format: str,
    file: str = "jsonl",
    min_agreement: float = 0.0,
    exclude_flagged: bool = False,
    package: str = "",
    license: str = "unknown",
    criterion: str = "",
    min_chosen_rating: str = "",
    with_edits: bool = False,
) -> StreamingHttpResponse:
    """The streamed download (page and API): named after the project and the format.

    With `package` (zip or tar), the dataset folder with its card instead (exporting/package.py).
    Raises BadExportOption before anything is sent for an option the project cannot take (a
    criterion it lacks, a rating off its scale).
    """
    check_options(project, criterion=criterion, min_chosen_rating=min_chosen_rating)
    if package:
        # package.py builds on this module: imported here, not at the top, to avoid a cycle.
        from annotate.exporting.package import package_response

        return package_response(
            project,
            package=package,
            format=format,
            file=file,
            min_agreement=min_agreement,
            exclude_flagged=exclude_flagged,
            license=license,
            criterion=criterion,
            min_chosen_rating=min_chosen_rating,
            with_edits=with_edits,
        )
    chunks = export_chunks(
        project,
        fmt=format,
        file_type=file,
        min_agreement=min_agreement,
        exclude_flagged=exclude_flagged,
        criterion=criterion,
        min_chosen_rating=min_chosen_rating,
        with_edits=with_edits,
    )
    content_type = "application/x-ndjson" if file == "jsonl" else "application/vnd.apache.parquet"
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-{format}.{file}"'
    return response


def export_rows(
    project: Project,
    *,
    fmt: str,
    min_agreement: float = 0.0,
    exclude_flagged: bool = False,
    criterion: str = "",
    min_chosen_rating: str = "",
    with_edits: bool = False,
) -> tuple[Iterator[dict[str, Any]], str]:
    """Return the row iterator and the name of its schema.

    Judgements on gold pairs are never exported; `exclude_flagged` also leaves out the
    annotators the quality checks flag. `criterion` makes trl and hh the preferences of that
    criterion; `min_chosen_rating` (a value of the scale, as text) leaves out their rows whose
    chosen response is rated below it, and `with_edits` adds the edits' rows, to the overall
    preferences only (exporting/shaped.py). Other formats take neither.
    """
    check_options(project, criterion=criterion, min_chosen_rating=min_chosen_rating)
    pairs = PairOptions(
        min_agreement=min_agreement,
        criterion=criterion,
        least_rating=rating_index(project, min_chosen_rating),
        with_edits=with_edits and not criterion,
    )
    votes = training_judgements(project, exclude_flagged=exclude_flagged)
    if fmt == "judgements":
        both = itertools.chain(iter_judgement_rows(project, votes), iter_judge_rows(project))
        return both, "judgements"
    if fmt == "hh":
        return iter_hh_rows(project, votes=votes, options=pairs), "hh"
    conversational = uses_conversational_form(project)
    form = "_conversational" if conversational else ""
    if fmt == "rankings":
        ranked = iter_ranking_rows(
            project, votes, conversational=conversational, criterion=criterion
        )
        return ranked, fmt + form
    shaped = {"kto": iter_kto_rows, "sft": iter_sft_rows}
    if fmt in shaped:
        return shaped[fmt](project, votes, conversational=conversational), fmt + form
    margin = has_margin(project, votes, criterion)
    rows = iter_trl_rows(
        project, conversational=conversational, votes=votes, options=pairs, margin=margin
    )
    return rows, "trl" + form + ("_margin" if margin else "")


def check_options(project: Project, *, criterion: str, min_chosen_rating: str) -> None:
    """Raise BadExportOption (its `field` names the option) for a criterion the project lacks
    or a `min_chosen_rating` off its scale, whatever the format."""
    check_criterion(project, criterion)
    rating_index(project, min_chosen_rating)


@dataclass(frozen=True)
class PairOptions:
    """Which preference pairs trl and hh hold (see export_rows)."""

    min_agreement: float = 0.0
    criterion: str = ""
    least_rating: int | None = None  # a position on the rating scale; None: no threshold
    with_edits: bool = False


def has_margin(project: Project, votes: QuerySet[Judgement], criterion: str = "") -> bool:
    """Whether the trl export has a `margin` column: the overall pairwise preferences, where
    some vote records a strength (see the module's docstring)."""
    if uses_shaped_pairs(project, criterion):
        return False
    return votes.filter(strength__isnull=False).exists()


def uses_conversational_form(project: Project) -> bool:
    """TRL's message-list form is used for the whole file when any prompt is multi-turn.

    One form per file, because `datasets` needs one type per column.
    """
    return (
        Prompt.objects.filter(project=project)
        .filter(Q(turn_count__gt=1) | ~Q(messages__0__role="user"))
        .exists()
    )


# A pair's votes: {choice: votes} and {choice: (sum of strengths, votes with a strength)}.
Tally = tuple[dict[str, int], dict[str, tuple[int, int]]]


def _vote_tallies(judgements: QuerySet[Judgement]) -> Iterator[tuple[int, Tally]]:
    """Yield (pair id, its Tally) in pair id order, from one grouped query."""
    rows = (
        judgements.values_list("pair_id", "choice")
        .annotate(n=Count("id"), graded=Count("strength"), total=Sum("strength"))
        .order_by("pair_id")
    )
    current: int | None = None
    votes: dict[str, int] = {}
    strengths: dict[str, tuple[int, int]] = {}
    for pair_id, choice, n, graded, total in stream_rows(rows):
        if pair_id != current:
            if current is not None:
                yield current, (votes, strengths)
            current, votes, strengths = pair_id, {}, {}
        votes[choice] = n
        strengths[choice] = (total or 0, graded)
    if current is not None:
        yield current, (votes, strengths)


def _margin(strengths: dict[str, tuple[int, int]], winner: str) -> float | None:
    """The mean strength of the winning votes that have one; None when none has."""
    total, graded = strengths.get(winner, (0, 0))
    return total / graded if graded else None


def _decided_pairs(
    project: Project, selection: QuerySet[Judgement] | None, options: PairOptions
) -> Iterator[Decided]:
    """The preference pairs of trl and hh: those the majority decides, less the rows whose
    chosen response is rated below `options.least_rating`, then the edits' rows."""
    votes = training_judgements(project) if selection is None else selection
    decided = _majority_pairs(project, options.min_agreement, votes, options.criterion)
    if options.least_rating is not None:
        decided = _rated_at_least(decided, rated_indexes(project, votes), options.least_rating)
    yield from decided
    if options.with_edits:
        yield from edit_pairs(votes)


def _rated_at_least(
    decided: Iterator[Decided], rated: Iterator[tuple[int, dict[int, list[int]]]], least: int
) -> Iterator[Decided]:
    """The pairs whose chosen response's mean position on the scale, over its ratings in that
    pair's judgements, is at least `least`; unrated ones too. Both streams in pair id order."""
    here = next(rated, None)
    for pair in decided:
        while here is not None and here[0] < pair.pair_id:
            here = next(rated, None)
        given = here[1].get(pair.chosen_id, []) if here and here[0] == pair.pair_id else []
        if not given or sum(given) >= least * len(given):
            yield pair


def _majority_pairs(
    project: Project, min_agreement: float, votes: QuerySet[Judgement], criterion: str = ""
) -> Iterator[Decided]:
    """The pairs decided by majority, in pair id order; margin: the mean strength of the
    majority's votes (None: none has one).

    Pairs and their vote tallies are two streams in pair id order, merged here: neither query
    groups by long texts, and neither is repeated per page. A ranking project's, or a
    criterion's, come from their votes' response pairs instead (exporting/shaped.py).
    """
    if uses_shaped_pairs(project, criterion):
        yield from decided_pairs(project, votes, min_agreement=min_agreement, criterion=criterion)
        return
    judged = Q(judgement_count__gt=0)
    extra = judge_tallies(project)
    if extra:
        judged |= Q(pk__in=list(extra))
    pairs = (
        Pair.objects.filter(judged, project=project)
        .order_by("pk")
        .values_list(
            "pk",
            "prompt__messages",
            "response_a_id",
            "response_a__text",
            "response_b_id",
            "response_b__text",
        )
    )
    tallies = _vote_tallies(votes)
    tally = next(tallies, None)
    for pair_id, messages, a_id, a, b_id, b in stream_rows(pairs):
        while tally is not None and tally[0] < pair_id:
            tally = next(tallies, None)
        here = tally is not None and tally[0] == pair_id
        counted, strengths = tally[1] if tally is not None and here else ({}, {})
        said = Counter(counted)
        said.update(extra.get(pair_id, {}))
        if not said:
            continue
        winner, share = majority(said)
        if winner in (Choice.A, Choice.B) and share >= min_agreement:
            decoded, margin = _messages(messages), _margin(strengths, winner)
            if winner == Choice.A:
                yield Decided(pair_id, decoded, a_id, a, b_id, b, margin)
            else:
                yield Decided(pair_id, decoded, b_id, b, a_id, a, margin)


def judge_tallies(project: Project) -> dict[int, Counter[str]]:
    """The AI judges' votes per pair where the project counts them (gold pairs never)."""
    judges = judge_votes(project) if project.judge_votes_count else []
    if not judges:
        return {}
    gold = set(
        Pair.objects.filter(project=project).exclude(gold_label="").values_list("pk", flat=True)
    )
    tallies: dict[int, Counter[str]] = {}
    for judge in judges:
        for pair_id, choice in judge.votes.items():
            if pair_id not in gold:
                tallies.setdefault(pair_id, Counter())[choice] += 1
    return tallies


def _messages(value: str | list[dict[str, str]]) -> list[dict[str, str]]:
    """A JSON column read raw is text on every backend we support; decode it with orjson."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def iter_trl_rows(
    project: Project,
    *,
    conversational: bool = False,
    votes: QuerySet[Judgement] | None = None,
    options: PairOptions | None = None,
    margin: bool = False,
) -> Iterator[dict[str, Any]]:
    """`{"prompt", "chosen", "rejected"}`: strings, or message lists when conversational;
    with `margin`, also `"margin"`, a float in every row (0.0 where no vote has a strength,
    and in an edit's rows)."""
    for pair in _decided_pairs(project, votes, options or PairOptions()):
        row: dict[str, Any]
        if conversational:
            row = {
                "prompt": pair.messages,
                "chosen": [{"role": "assistant", "content": pair.chosen}],
                "rejected": [{"role": "assistant", "content": pair.rejected}],
            }
        else:
            row = {
                "prompt": pair.messages[-1]["content"],
                "chosen": pair.chosen,
                "rejected": pair.rejected,
            }
        if margin:
            row["margin"] = 0.0 if pair.margin is None else pair.margin
        yield row


def iter_hh_rows(
    project: Project,
    *,
    votes: QuerySet[Judgement] | None = None,
    options: PairOptions | None = None,
) -> Iterator[dict[str, Any]]:
    """`{"chosen", "rejected"}` as full HH-RLHF dialogues."""
    for pair in _decided_pairs(project, votes, options or PairOptions()):
        dialogue = pair.messages
        yield {
            "chosen": render_hh_transcript(
                [*dialogue, {"role": "assistant", "content": pair.chosen}]
            ),
            "rejected": render_hh_transcript(
                [*dialogue, {"role": "assistant", "content": pair.rejected}]
            ),
        }


def pseudonym(project: Project, user_id: int | None) -> str:
    """A stable per-project annotator id that does not reveal the username."""
    return _pseudonym(project.pseudonym_salt, user_id)


# Exports repeat a few annotators over many rows; hash each once.
@lru_cache(maxsize=4096)
def _pseudonym(salt: str, user_id: int | None) -> str:
    if user_id is None:
        return ""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()
    return f"annotator-{digest[:10]}"


def _iso(value: datetime | str) -> str:
    """Timestamps read raw: datetimes on PostgreSQL, naive UTC ISO text on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.isoformat()


def iter_judgement_rows(
    project: Project, votes: QuerySet[Judgement] | None = None
) -> Iterator[dict[str, Any]]:
    """One row per valid judgement (gold checks never), annotators pseudonymized; with the
    columns of the project's judgement settings (`shape_columns`)."""
    rows = (
        (training_judgements(project) if votes is None else votes)
        .order_by("pk")
        .values_list(
            "pair_id",
            "pair__external_id",
            "annotator_id",
            "source",
            "choice",
            "shown_left",
            "strength",
            "rationale",
            "duration_ms",
            "created_at",
            "ranking",
            "criteria",
            "invalid_criteria",
            "ratings",
            # The edit's join only where the project takes edits.
            *(
                ("edit__text", "edit__parent_id", "edit__invalidated_at")
                if project.edits != Edits.OFF
                else ()
            ),
        )
    )
    shaped = bool(shape_columns(project, False))
    # Only a ranking project's rows carry the prompt, whose form is one per file.
    ranked = project.comparison == Comparison.RANKING
    conversational = ranked and uses_conversational_form(project)
    salt = project.pseudonym_salt
    streamed = iter(stream_rows(rows))
    while batch := list(itertools.islice(streamed, 500)):
        items = ranking_items(sorted({row[0] for row in batch})) if shaped else {}
        for pair_id, external_id, annotator_id, source, choice, shown_left, *rest in batch:
            strength, rationale, duration_ms, created_at, ranking, *shape = rest
            criteria, invalid_criteria, ratings, *edit = shape
            edit_text, edit_parent, edit_invalid = edit or (None, None, None)
            if edit_invalid is not None:  # review found the edit wanting: it is left out
                edit_text, edit_parent = None, None
            row = {
                "pair_id": pair_id,
                "pair_external_id": external_id,
                "annotator": _pseudonym(salt, annotator_id),
                "source": source,
                "choice": choice,
                "shown_left": shown_left or None,
                "strength": strength,
                "rationale": rationale,
                "duration_ms": duration_ms,
                "created_at": _iso(created_at),
            }
            if shaped:
                row |= _shape_values(
                    project,
                    items[pair_id],
                    conversational,
                    ranking,
                    counted_criteria(decode_json(criteria), decode_json(invalid_criteria)),
                    ratings,
                    (edit_text, edit_parent),
                )
            yield row


def _shape_values(
    project: Project,
    item: tuple[list[dict[str, str]], list[int], dict[int, str]],
    conversational: bool,
    ranking: Any,
    criteria: Any,
    ratings: Any,
    edit: tuple[str | None, int | None],
) -> dict[str, Any]:
    """A judgement's ranking, counted criteria, ratings and edit in item positions
    (shape_columns)."""
    messages, ids, texts = item
    index = {rid: i for i, rid in enumerate(ids)}

    def positions(order: Any) -> list[list[int]] | None:
        if not isinstance(order, list):
            return None
        return [sorted(index[rid] for rid in group if rid in index) for group in order]

    values: dict[str, Any] = {}
    ranked = project.comparison == Comparison.RANKING
    if ranked:
        values["prompt"] = messages if conversational else messages[-1]["content"]
        values["responses"] = [texts[rid] for rid in ids]
        values["ranking"] = positions(decode_json(ranking))
    votes = decode_json(criteria) or {}
    for criterion in project.criteria:
        vote = votes.get(criterion["name"])
        values[f"criterion_{criterion['name']}"] = positions(vote) if ranked else vote
    if project.rating_scale:
        given = decode_json(ratings) or {}
        numeric = all(isinstance(v, int) for v in project.rating_scale)
        listed = [given.get(str(rid)) for rid in ids]
        values["ratings"] = [v if v is None or numeric else str(v) for v in listed]
    if project.edits != Edits.OFF:
        text, parent = edit
        values["edit"] = text
        values["edit_of"] = None if text is None or parent is None else index.get(parent)
    return values


def iter_judge_rows(project: Project) -> Iterator[dict[str, Any]]:
    """AI judges' votes as `source: "judge"` rows, where the project counts them."""
    judges = judge_votes(project) if project.judge_votes_count else []
    salt = project.pseudonym_salt
    # A judge gives only the overall pairwise choice: the shape's columns stay empty, but for
    # a ranking item's prompt and responses, which name the item as on every other row.
    empty = dict.fromkeys(name for name, _ in shape_columns(project, False))
    ranked = project.comparison == Comparison.RANKING
    conversational = ranked and uses_conversational_form(project)
    for judge in judges:
        ids = sorted(judge.votes)
        for start in range(0, len(ids), 5000):
            pairs = Pair.objects.filter(pk__in=ids[start : start + 5000], gold_label="")
            if project.edits != Edits.OFF or project.judge_edits:  # as training_judgements
                pairs = pairs.filter(
                    response_a__invalidated_at=None, response_b__invalidated_at=None
                )
            found = list(pairs.order_by("pk").values_list("pk", "external_id"))
            items = ranking_items([pk for pk, _ in found]) if ranked else {}
            for pair_id, external_id in found:
                named = {}
                if pair_id in items:
                    messages, members, texts = items[pair_id]
                    named = {
                        "prompt": messages if conversational else messages[-1]["content"],
                        "responses": [texts[rid] for rid in members],
                    }
                yield (
                    {
                        "pair_id": pair_id,
                        "pair_external_id": external_id,
                        "annotator": _pseudonym(salt, judge.rater),
                        "source": "judge",
                        "choice": judge.votes[pair_id],
                        "shown_left": None,
                        "strength": None,
                        "rationale": "",
                        "duration_ms": None,
                        "created_at": None,
                    }
                    | empty
                    | named
                )
