"""The `judgements` import format: one vote per row, the mirror of the judgements export.

A row names its pair by `pair_external_id` (a pair already in the project) or by `prompt`,
`response_a` and `response_b`, and says who voted (`annotator`, any string) and what (`choice`
in canonical a/b terms). On a ranking project a row names its item by `prompt` and `responses`
(the texts, in any order) or by `pair_external_id`, and carries its `ranking`: groups of
indexes into `responses` (or into the item's own order), best first. Per-criterion votes are
`criterion_NAME` fields (or one `criteria` object of them) and `ratings` lists each response's
rating in the same positions (a pair's: a, b). What a row carries is checked against the
project's settings (`ImportShape`); nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from annotate.formats import (
    MAX_EXTERNAL_ID,
    MAX_NESTING,
    FieldError,
    PairIn,
    ResponseIn,
    model_name,
    optional_str,
    parse_prompt,
    shown,
)
from annotate.judging.shapes import Ranking, ShapeError, parse_ranking
from annotate.models import MAX_DURATION_MS, Comparison, Project
from annotate.safetext import find_unstorable

CHOICES = ("a", "b", "tie", "both_bad")
MAX_ANNOTATOR_LENGTH = 150
# A vote was made on a computer: not before the Unix epoch, and not in the future (a day of
# slack for clocks). The range also keeps every later conversion (UTC, timestamps, a browser's
# Date) in range, which year 1 or 9999 in a far time zone is not.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


CRITERION_PREFIX = "criterion_"


@dataclass(frozen=True)
class ImportShape:
    """What a project's judgements hold, as the import checks rows against it."""

    ranking: bool = False
    criteria: tuple[str, ...] = ()
    allow_tie: bool = True
    allow_both_bad: bool = True
    scale: tuple[int | str, ...] = ()

    @classmethod
    def of(cls, project: Project) -> ImportShape:
        return cls(
            ranking=project.comparison == Comparison.RANKING,
            criteria=tuple(c["name"] for c in project.criteria),
            allow_tie=project.allow_tie,
            allow_both_bad=project.allow_both_bad,
            scale=tuple(project.rating_scale),
        )


PLAIN = ImportShape()


@dataclass(frozen=True)
class ItemIn:
    """A ranking item named by its texts: the prompt and its responses in the row's order."""

    messages: list[dict[str, str]]
    responses: tuple[str, ...]


@dataclass(frozen=True)
class JudgementIn:
    """One vote as read from a file; `pair` is set when the row carries the pair's texts,
    `item` when it carries a ranking item's. Rankings, criteria and ratings are in the row's
    positions (indexes into its responses, or a pair's a, b)."""

    annotator: str
    choice: str
    external_id: str = ""
    pair: PairIn | None = None
    shown_left: str = ""
    strength: int | None = None
    rationale: str = ""
    duration_ms: int | None = None
    created_at: datetime | None = None
    item: ItemIn | None = None
    ranking: Ranking | None = None
    criteria: dict[str, Any] = field(default_factory=dict)
    ratings: tuple[int | str | None, ...] | None = None


def is_judgement_row(row: Any) -> bool:
    return isinstance(row, dict) and "annotator" in row and "choice" in row


def parse_judgement(row: Any, shape: ImportShape = PLAIN) -> JudgementIn:
    """Turn one row into a vote; raises FieldError naming the field that is wrong."""
    if not isinstance(row, dict):
        raise FieldError("", "expected a JSON object")
    bad = find_unstorable(row, max_depth=MAX_NESTING)
    if bad is not None:
        raise FieldError(*bad)
    annotator = row.get("annotator")
    if not isinstance(annotator, str | int) or not str(annotator).strip():
        raise FieldError("annotator", "is missing")
    if len(str(annotator)) > MAX_ANNOTATOR_LENGTH:
        raise FieldError("annotator", f"is longer than {MAX_ANNOTATOR_LENGTH} characters")
    choice = row.get("choice")
    if choice not in CHOICES:
        raise FieldError("choice", f"must be one of {', '.join(CHOICES)} (got {shown(choice)})")
    shown_left = row.get("shown_left") or ""
    if shown_left not in ("", "a", "b"):
        raise FieldError("shown_left", f"must be a or b (got {shown(shown_left)})")
    rationale = row.get("rationale") or ""
    if not isinstance(rationale, str):
        raise FieldError("rationale", "must be a string")
    item = _item(row) if shape.ranking else None
    size = len(item.responses) if item is not None else None if shape.ranking else 2
    ranking = _ranking(row.get("ranking"), "ranking", size, shape)
    if ranking is None and shape.ranking:
        raise FieldError("ranking", "is required on a ranking project")
    if ranking is not None and size is None:
        size = sum(len(group) for group in ranking)
    return JudgementIn(
        annotator=str(annotator).strip(),
        choice=choice,
        external_id=_external_id(row),
        pair=None if shape.ranking else _pair(row),
        item=item,
        ranking=ranking,
        criteria=parse_criteria(row, size, shape),
        ratings=_ratings(row.get("ratings"), size, shape),
        shown_left=shown_left,
        strength=_bounded_int(row, "strength", 1, 3),
        rationale=rationale,
        duration_ms=_bounded_int(row, "duration_ms", 0, MAX_DURATION_MS),
        created_at=_created_at(row.get("created_at")),
    )


def _item(row: dict[str, Any]) -> ItemIn | None:
    """A ranking project's row: its item by `prompt` and `responses`, or None (by id)."""
    if row.get("response_a") is not None or row.get("response_b") is not None:
        raise FieldError("responses", "a ranking item is named by prompt and responses")
    if row.get("prompt") is None and row.get("responses") is None:
        if not _external_id(row):
            raise FieldError("pair_external_id", "give it, or prompt and responses")
        return None
    messages = parse_prompt(row.get("prompt"), "prompt")
    responses = row.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        raise FieldError("responses", "must be a list of at least two response texts")
    if not all(isinstance(text, str) and text for text in responses):
        raise FieldError("responses", "each response must be a non-empty string")
    if len(set(responses)) != len(responses):
        raise FieldError("responses", "holds one response twice")
    return ItemIn(messages, tuple(responses))


def _ranking(value: Any, name: str, size: int | None, shape: ImportShape) -> Ranking | None:
    """Groups of positions, best first, through shapes.parse_ranking; None when absent."""
    if value is None:
        return None
    if not shape.ranking:
        raise FieldError(name, "this project compares pairs: its vote is the choice")
    if size is None:  # an item named by id: its size is checked against the database
        groups = value if isinstance(value, list) else [None]
        if not all(isinstance(group, list) for group in groups):
            raise FieldError(name, "must be a list of groups of response indexes, best first")
        size = sum(len(group) for group in groups)
    try:
        return parse_ranking(value, list(range(size)), field=name, allow_ties=shape.allow_tie)
    except ShapeError as exc:
        raise FieldError(exc.field, exc.message.replace("response id", "response index")) from None


def parse_criteria(row: dict[str, Any], size: int | None, shape: ImportShape) -> dict[str, Any]:
    """{criterion name: choice (a/b/tie/both_bad) or ranking of positions}."""
    given: dict[str, tuple[str, Any]] = {}
    whole = row.get("criteria")
    if whole is not None and not isinstance(whole, dict):
        raise FieldError("criteria", "must be an object of {criterion name: vote}")
    for name, vote in (whole or {}).items():
        given[str(name)] = ("criteria", vote)
    for key, vote in row.items():
        if isinstance(key, str) and key.startswith(CRITERION_PREFIX):
            name = key.removeprefix(CRITERION_PREFIX)
            if name in given and vote is not None:
                raise FieldError(key, "is given twice (also in criteria)")
            if vote is not None or name not in given:
                given[name] = (key, vote)
    votes: dict[str, Any] = {}
    names = ", ".join(shape.criteria) or "none"
    for name, (where, vote) in given.items():
        if name not in shape.criteria:
            raise FieldError(where, f"{name!r} is not a criterion of this project ({names})")
        if vote is None:
            continue
        if shape.ranking:
            votes[name] = _ranking(vote, where, size, shape)
            continue
        if vote not in CHOICES:
            raise FieldError(where, f"must be one of {', '.join(CHOICES)} (got {shown(vote)})")
        if (vote == "tie" and not shape.allow_tie) or (
            vote == "both_bad" and not shape.allow_both_bad
        ):
            raise FieldError(where, f"this project does not allow {vote}")
        votes[name] = vote
    return votes


def _ratings(
    value: Any, size: int | None, shape: ImportShape
) -> tuple[int | str | None, ...] | None:
    """Each response's rating in the row's positions, on the project's scale (null: unrated)."""
    if value is None:
        return None
    if not shape.scale:
        raise FieldError("ratings", "this project does not rate responses")
    if not isinstance(value, list) or (size is not None and len(value) != size):
        raise FieldError("ratings", f"must list one rating (or null) per response ({size})")
    return tuple(None if v is None else _on_scale(v, shape.scale) for v in value)


def _on_scale(value: Any, scale: tuple[int | str, ...]) -> int | str:
    """The scale's value a rating stands for; text "4" is 4 (CSV, a labelled export)."""
    for point in scale:
        if type(value) is type(point) and value == point:
            return point
    if isinstance(value, str | int) and not isinstance(value, bool):
        for point in scale:
            if str(point) == str(value):
                return point
    raise FieldError(
        "ratings", f"{shown(value)} is not on this project's scale ({', '.join(map(str, scale))})"
    )


def _external_id(row: dict[str, Any]) -> str:
    value = row.get("pair_external_id")
    if isinstance(value, str):
        value = value.strip()
    return optional_str(value, "pair_external_id", max_length=MAX_EXTERNAL_ID)


def _pair(row: dict[str, Any]) -> PairIn | None:
    texts = [row.get(name) for name in ("prompt", "response_a", "response_b")]
    if all(t is None for t in texts):
        if not _external_id(row):
            raise FieldError("pair_external_id", "give it, or prompt/response_a/response_b")
        return None
    messages = parse_prompt(row.get("prompt"), "prompt")
    given: dict[str, str] = {}
    for name in ("response_a", "response_b"):
        value = row.get(name)
        if not isinstance(value, str):
            raise FieldError(name, "is missing" if value is None else "must be a string")
        given[name] = value
    a, b = given["response_a"], given["response_b"]
    if a == b:
        raise FieldError("response_b", "is identical to the other response")
    models = [model_name(row.get(name), name) for name in ("model_a", "model_b")]
    return PairIn(
        messages, ResponseIn(a, models[0]), ResponseIn(b, models[1]), external_id=_external_id(row)
    )


def _bounded_int(row: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    number = _whole_number(value)
    if number is None or not low <= number <= high:
        raise FieldError(name, f"must be a whole number from {low} to {high} (got {shown(value)})")
    return number


def _whole_number(value: Any) -> int | None:
    """The integer a number or its text (CSV) stands for; None for anything else, `inf` too."""
    if isinstance(value, str) and len(value) <= 30:
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _created_at(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        moment = moment.astimezone(UTC) if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
    except ValueError:
        raise FieldError("created_at", f"must be an ISO 8601 time (got {shown(value)})") from None
    except OverflowError:  # year 9999 west of UTC, year 1 east of it
        moment = EARLIEST - timedelta(days=1)
    latest = timezone.now() + timedelta(days=1)
    if not EARLIEST <= moment <= latest:
        raise FieldError(
            "created_at",
            f"must be between {EARLIEST:%Y-%m-%d} and a day from now, {latest:%Y-%m-%d} "
            f"(got {shown(value)})",
        )
    return moment
