"""The pairs browser and review as typed answers: a pair's row, its detail, its judgements.

Attribute names are the JSON keys; `record["key"]` still reads the JSON as received, as it did
when these answers were plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prefloop_client.records import build, parse_time


class Keyed:
    """Subscript access to the JSON body kept in `raw` (the dict these records replaced)."""

    raw: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


@dataclass
class PairRow(Keyed):
    """A pair as the browser lists it; `prompt` is its last message, shortened."""

    id: int
    external_id: str = ""
    prompt: str = ""
    model_a: str = ""
    model_b: str = ""
    status: str = ""
    judgement_count: int = 0
    target: int = 0
    gold_label: str = ""
    priority: float = 0.0
    # a ranking item's responses (null for a pair); judgements with an edit (null: no edits)
    responses: int | None = None
    edits: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class ReviewEvent:
    """One step of a judgement's review: `invalidated` or `restored`, by whom, when, why;
    `part` is "" (the whole judgement), "criterion:NAME" or "edit"."""

    action: str
    reason: str = ""
    by: str | None = None
    at: datetime | None = None
    part: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewEvent:
        return cls(
            data["action"],
            data.get("reason", ""),
            data.get("by"),
            parse_time(data.get("at")),
            data.get("part", ""),
        )


@dataclass
class PairJudgement(Keyed):
    """A judgement as review shows it: `choice` in the pair's a/b terms, the annotator's
    per-project pseudonym ("" for an imported vote), whether it counts and its review log."""

    id: int
    choice: str
    valid: bool = True
    annotator: str = ""
    source: str = ""
    shown_left: str = ""
    strength: str | None = None
    rationale: str = ""
    duration_ms: int | None = None
    model_a: str = ""
    model_b: str = ""
    created_at: datetime | None = None
    invalidated_at: datetime | None = None
    invalidated_by: str | None = None
    invalid_reason: str = ""
    reviews: list[ReviewEvent] = field(default_factory=list)
    # what it holds beyond a choice: groups of response ids best first, {criterion: vote},
    # criteria review invalidated, {response id: rating}, {"id", "text", "parent", "valid"}
    ranking: list[list[int]] | None = None
    criteria: dict[str, Any] | None = None
    invalid_criteria: list[str] = field(default_factory=list)
    ratings: dict[str, Any] | None = None
    edit: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairJudgement:
        reviews = [ReviewEvent.from_json(r) for r in data.get("reviews", [])]
        return build(cls, data, reviews=reviews)


@dataclass
class ResponseText:
    text: str
    model_name: str = ""


@dataclass
class PairDetail(Keyed):
    """A pair with its prompt messages, both responses and every judgement, oldest first.

    `details` holds what other parts of the product know of it (the served model's rewards):
    `[{"title", "rows": [[label, value], ...]}]`.
    """

    id: int
    status: str
    response_a: ResponseText
    response_b: ResponseText
    external_id: str = ""
    priority: float = 0.0
    judgement_count: int = 0
    target: int = 0
    gold_label: str = ""
    created_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    prompt: list[dict[str, Any]] = field(default_factory=list)
    judgements: list[PairJudgement] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    # a ranking item's responses in item order ({"id", "text", "model_name"}), its gold
    ranked: list[dict[str, Any]] = field(default_factory=list)
    gold_ranking: list[list[int]] | None = None
    gold_criteria: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairDetail:
        return build(
            cls,
            data,
            response_a=build(ResponseText, data["response_a"]),
            response_b=build(ResponseText, data["response_b"]),
            judgements=[PairJudgement.from_json(j) for j in data.get("judgements", [])],
        )
