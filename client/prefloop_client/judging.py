"""Judging for scripted raters: a leased pair, judged or skipped exactly once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prefloop_client.records import build

if TYPE_CHECKING:
    from prefloop_client.http import Transport

CHOICES = ("left", "right", "tie", "both_bad")


@dataclass
class Judgement:
    """A recorded judgement; `created` is False when the server already had this client id.
    `ranking` is a ranking item's stored ranking (groups of response ids, best first)."""

    judgement: int
    choice: str
    progress: dict[str, int]
    created: bool = True
    ranking: list[list[int]] | None = None


@dataclass
class Assignment:
    """A pair leased to the caller, shown blind: prompt messages, left and right texts (or a
    ranking item's `responses` in display order).

    `judge` and `skip` send a client id made once per assignment, so a retried call (a timeout,
    a lost answer) records the judgement once.
    """

    assignment: int
    pair: int
    prompt: list[dict[str, Any]]
    left: str = ""
    right: str = ""
    # A ranking item's responses in display order (`{"id", "text"}`); [] for a pair.
    responses: list[dict[str, Any]] = field(default_factory=list)
    # "pairwise" or "ranking"; the project's criteria, rating scale and edits setting when it
    # asks for more than a choice
    comparison: str = "pairwise"
    criteria: list[dict[str, Any]] = field(default_factory=list)
    rating_scale: list[Any] = field(default_factory=list)
    edits: str = "off"
    expires_at: datetime | None = None
    progress: dict[str, int] = field(default_factory=dict)
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _transport: Transport = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @classmethod
    def from_json(cls, transport: Transport, data: dict[str, Any]) -> Assignment:
        return build(
            cls,
            data,
            left=(data.get("left") or {}).get("text", ""),
            right=(data.get("right") or {}).get("text", ""),
            prompt=[{"role": m["role"], "content": m["content"]} for m in data["prompt"]],
            _transport=transport,
        )

    @property
    def prompt_text(self) -> str:
        """The last user message (the question being answered)."""
        users = [m["content"] for m in self.prompt if m["role"] == "user"]
        return users[-1] if users else ""

    def judge(self, choice: str, **fields: Any) -> Judgement:
        """Record `choice` (left, right, tie, both_bad) with strength, rationale, duration_ms,
        and where the project asks for them `criteria` ({name: choice}), `ratings` ({"left":
        value, "right": value}) and `edit` (the better response, improved)."""
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {', '.join(CHOICES)} (got {choice!r})")
        return self._send({**fields, "choice": choice})

    def rank(self, ranking: list[list[int]], **fields: Any) -> Judgement:
        """Record a ranking item's `ranking`: groups of the ids in `responses`, best first, ties
        in one group; with `criteria` ({name: ranking}), `ratings` ({id: value}), `edit`."""
        return self._send({**fields, "ranking": ranking})

    def _send(self, body: dict[str, Any]) -> Judgement:
        body = {k: v for k, v in body.items() if v is not None} | {"client_id": self.client_id}
        response = self._transport.request(
            "POST", f"/api/assignments/{self.assignment}/judgement", json=body, idempotent=True
        )
        data = response.json()
        return Judgement(
            judgement=data["judgement"],
            choice=data["choice"],
            progress=data.get("progress", {}),
            created=response.status_code == 201,
            ranking=data.get("ranking"),
        )

    def skip(self) -> str:
        """Skip the pair: it is not offered to this rater again. Returns the outcome."""
        data = self._transport.post(f"/api/assignments/{self.assignment}/skip", idempotent=True)
        return str(data["outcome"])
