"""The `judgements` import format: one vote per row, the mirror of the judgements export.

A row names its pair by `pair_external_id` (a pair already in the project) or by `prompt`,
`response_a` and `response_b`, and says who voted (`annotator`, any string) and what (`choice`
in canonical a/b terms). Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from annotate.models import MAX_DURATION_MS
from annotate.safetext import find_unstorable

CHOICES = ("a", "b", "tie", "both_bad")
MAX_ANNOTATOR_LENGTH = 150
# A vote was made on a computer: not before the Unix epoch, and not in the future (a day of
# slack for clocks). The range also keeps every later conversion (UTC, timestamps, a browser's
# Date) in range, which year 1 or 9999 in a far time zone is not.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


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
    return JudgementIn(
        annotator=str(annotator).strip(),
        choice=choice,
        external_id=_external_id(row),
        pair=_pair(row),
        shown_left=shown_left,
        strength=_bounded_int(row, "strength", 1, 3),
        rationale=rationale,
        duration_ms=_bounded_int(row, "duration_ms", 0, MAX_DURATION_MS),
        created_at=_created_at(row.get("created_at")),
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
