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
    """A recorded judgement; `created` is False when the server already had this client id."""

    judgement: int
    choice: str
    progress: dict[str, int]
    created: bool = True


@dataclass
class Assignment:
    """A pair leased to the caller, shown blind: prompt messages, left and right texts.

    `judge` and `skip` send a client id made once per assignment, so a retried call (a timeout,
    a lost answer) records the judgement once.
    """

    assignment: int
    pair: int
    prompt: list[dict[str, Any]]
    left: str
    right: str
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
            left=data["left"]["text"],
            right=data["right"]["text"],
            prompt=[{"role": m["role"], "content": m["content"]} for m in data["prompt"]],
            _transport=transport,
        )

    @property
    def prompt_text(self) -> str:
        """The last user message (the question being answered)."""
        users = [m["content"] for m in self.prompt if m["role"] == "user"]
        return users[-1] if users else ""

    def judge(self, choice: str, **fields: Any) -> Judgement:
        """Record `choice` (left, right, tie, both_bad) with strength, rationale, duration_ms."""
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {', '.join(CHOICES)} (got {choice!r})")
        body = {**fields, "choice": choice, "client_id": self.client_id}
        response = self._transport.request(
            "POST", f"/api/assignments/{self.assignment}/judgement", json=body, idempotent=True
        )
        data = response.json()
        return Judgement(
            judgement=data["judgement"],
            choice=data["choice"],
            progress=data.get("progress", {}),
            created=response.status_code == 201,
        )

    def skip(self) -> str:
        """Skip the pair: it is not offered to this rater again. Returns the outcome."""
        data = self._transport.post(f"/api/assignments/{self.assignment}/skip", idempotent=True)
        return str(data["outcome"])
