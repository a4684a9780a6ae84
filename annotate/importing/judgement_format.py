"""The `judgements` import format: one vote per row, the mirror of the judgements export.

A row names its pair by `pair_external_id` (a pair already in the project) or by `prompt`,
`response_a` and `response_b`, and says who voted (`annotator`, any string) and what (`choice`
in canonical a/b terms). Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from annotate.formats import FieldError, PairIn, ResponseIn, parse_prompt

CHOICES = ("a", "b", "tie", "both_bad")
MAX_ANNOTATOR_LENGTH = 150


@dataclass(frozen=True)
class JudgementIn:
    """One vote as read from a file; `pair` is set when the row carries the pair's texts."""

    annotator: str
    choice: str
    external_id: str = ""
    pair: PairIn | None = None
    shown_left: str = ""
    strength: int | None = None
    rationale: str = ""
    duration_ms: int | None = None
    created_at: datetime | None = None


def is_judgement_row(row: Any) -> bool:
    return isinstance(row, dict) and "annotator" in row and "choice" in row


def parse_judgement(row: Any) -> JudgementIn:
    """Turn one row into a vote; raises FieldError naming the field that is wrong."""
    if not isinstance(row, dict):
        raise FieldError("", "expected a JSON object")
    annotator = row.get("annotator")
    if not isinstance(annotator, str | int) or not str(annotator).strip():
        raise FieldError("annotator", "is missing")
    if len(str(annotator)) > MAX_ANNOTATOR_LENGTH:
        raise FieldError("annotator", f"is longer than {MAX_ANNOTATOR_LENGTH} characters")
    choice = row.get("choice")
    if choice not in CHOICES:
        raise FieldError("choice", f"must be one of {', '.join(CHOICES)} (got {choice!r})")
    shown_left = row.get("shown_left") or ""
    if shown_left not in ("", "a", "b"):
        raise FieldError("shown_left", f"must be a or b (got {shown_left!r})")
    rationale = row.get("rationale") or ""
    if not isinstance(rationale, str):
        raise FieldError("rationale", "must be a string")
    return JudgementIn(
        annotator=str(annotator).strip(),
        choice=choice,
        external_id=_external_id(row),
        pair=_pair(row),
        shown_left=shown_left,
        strength=_bounded_int(row, "strength", 1, 3),
        rationale=rationale,
        duration_ms=_bounded_int(row, "duration_ms", 0, 2**31 - 1),
        created_at=_created_at(row.get("created_at")),
    )


def _external_id(row: dict[str, Any]) -> str:
    value = row.get("pair_external_id")
    return "" if value is None else str(value).strip()


def _pair(row: dict[str, Any]) -> PairIn | None:
    texts = [row.get(name) for name in ("prompt", "response_a", "response_b")]
    if all(t is None for t in texts):
        if not _external_id(row):
            raise FieldError("pair_external_id", "give it, or prompt/response_a/response_b")
        return None
    messages = parse_prompt(row.get("prompt"), "prompt")
    a, b = row.get("response_a"), row.get("response_b")
    for name, value in (("response_a", a), ("response_b", b)):
        if not isinstance(value, str):
            raise FieldError(name, "is missing" if value is None else "must be a string")
    if a == b:
        raise FieldError("response_b", "is identical to the other response")
    models = ["" if row.get(name) is None else str(row[name]) for name in ("model_a", "model_b")]
    return PairIn(
        messages, ResponseIn(a, models[0]), ResponseIn(b, models[1]), external_id=_external_id(row)
    )


def _bounded_int(row: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FieldError(name, f"must be a whole number (got {value!r})") from None
    if isinstance(value, float | str) and float(value) != number or not low <= number <= high:
        raise FieldError(name, f"must be a whole number from {low} to {high} (got {value!r})")
    return number


def _created_at(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise FieldError("created_at", f"must be an ISO 8601 time (got {value!r})") from None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
