"""Typed views of the server's answers: plain dataclasses, with `raw` keeping the whole body."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from prefloop_client.errors import LineError, parse_line_error

T = TypeVar("T")


def build(cls: type[T], data: dict[str, Any], **values: Any) -> T:
    """`cls` from a JSON object: the fields it declares (times parsed), the rest in `raw`."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in names and key not in values:
            kwargs[key] = parse_time(value) if key.endswith("_at") else value
    if "raw" in names:
        kwargs["raw"] = data
    return cls(**kwargs, **values)


def parse_time(value: Any) -> Any:
    """An ISO 8601 string as a datetime; anything else (None, a bad string) as it is."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd  # optional: `pip install prefloop-client[pandas]`

    return pd.DataFrame(rows)


@dataclass
class Member:
    username: str
    role: str
    user_id: int | None = None
    judgements: int | None = None
    last_active: str | None = None
    paused_reason: str = ""
    created_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Invitation:
    id: int
    email: str
    role: str
    url: str | None = None  # the one-time link: only in the answer that made it
    expired: bool = False
    created_by: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Stats:
    """Progress: a large project's pair and vote counts as a worker last took them (None while
    `counts_status` is "computing"); each member's count is current."""

    pending: int | None
    complete: int | None
    judgements: int | None
    annotators: list[dict[str, Any]] = field(default_factory=list)
    counts_status: str = "ready"
    counts_as_of: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_pandas(self) -> Any:
        """Judgements per annotator as a DataFrame."""
        return _frame(self.annotators)


@dataclass
class Rate:
    """k of n, the rate and its 95% interval (agreement, gold accuracy, left share)."""

    k: int
    n: int
    rate: float | None
    interval: list[float] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Rate:
        data = data or {}
        return cls(data.get("k", 0), data.get("n", 0), data.get("rate"), data.get("interval"))


@dataclass
class AnnotatorQuality:
    id: int
    name: str
    judgements: int
    agreement: Rate
    gold: Rate
    left: Rate
    member: bool = True
    paused_reason: str = ""
    left_p_value: float | None = None
    tie_rate: float = 0.0
    both_bad_rate: float = 0.0
    median_seconds: float | None = None
    fast_share: float | None = None
    flags: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnnotatorQuality:
        rates = {k: Rate.from_json(data.get(k)) for k in ("agreement", "gold", "left")}
        return build(cls, data, **rates)

    def row(self) -> dict[str, Any]:
        """One flat row: the rates as numbers, the flags joined."""
        return {
            "id": self.id,
            "name": self.name,
            "judgements": self.judgements,
            "agreement": self.agreement.rate,
            "gold_accuracy": self.gold.rate,
            "left_rate": self.left.rate,
            "left_p_value": self.left_p_value,
            "tie_rate": self.tie_rate,
            "both_bad_rate": self.both_bad_rate,
            "median_seconds": self.median_seconds,
            "fast_share": self.fast_share,
            "paused_reason": self.paused_reason,
            "flags": ", ".join(self.flags),
        }


@dataclass(frozen=True)
class Freshness:
    """How fresh a statistic the server's worker stores is (the answer's `freshness`)."""

    status: str  # "ready": figures are served; "computing": none yet, a worker is on them
    computed_at: datetime | None = None  # when a worker computed them
    votes_reflected: int | None = None  # the project's valid votes they were computed from
    votes_now: int | None = None  # its valid votes at the server's last look (None: not yet)
    updating: bool = False  # a newer computation is queued or running

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Freshness | None:
        """The freshness object of an answer; None where the answer has none."""
        if not isinstance(data, dict):
            return None
        return build(cls, data)

    @property
    def votes_behind(self) -> int | None:
        """Votes cast since the figures were computed (None until both are known)."""
        if self.votes_now is None or self.votes_reflected is None:
            return None
        return max(self.votes_now - self.votes_reflected, 0)


@dataclass
class Quality:
    """The quality report: agreement, position bias, overlap's savings, each annotator."""

    alpha: float | None
    alpha_interval: list[float] | None
    alpha_decisive: float | None
    pairs_compared: int
    position_bias: Rate
    completed_pairs: int
    votes_per_completed_pair: float | None
    votes_saved: float
    annotators: list[AnnotatorQuality]
    alpha_decisive_interval: list[float] | None = None
    min_votes: int = 0
    max_votes: int = 0
    gold_min_accuracy: float = 0.0
    # when the worker computed the report, and from how many of the votes
    freshness: Freshness | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Quality:
        return build(
            cls,
            data,
            freshness=Freshness.from_json(data.get("freshness")),
            position_bias=Rate.from_json(data.get("position_bias")),
            annotators=[AnnotatorQuality.from_json(a) for a in data.get("annotators", [])],
        )

    def to_pandas(self) -> Any:
        """One row per annotator."""
        return _frame([a.row() for a in self.annotators])


@dataclass
class ModelRating:
    model: str
    rating: float
    interval: list[float]
    rank: int
    votes: int
    wins: int
    losses: int
    ties: int
    both_bad: int
    mean_length: float | None = None
    without_length_control: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Leaderboard:
    """Source models ranked by a Bradley-Terry fit of the votes (Elo scale, 95% intervals)."""

    length_control: bool
    votes: int
    models: list[ModelRating]
    bootstrap_rounds: int = 0
    length_coefficient: dict[str, Any] | None = None
    win_rates: dict[str, Any] = field(default_factory=dict)
    reward_model: dict[str, Any] | None = None
    # "" for the overall preference; rankings counted, and the implied pairs they gave
    criterion: str = ""
    rankings: int = 0
    implied_pairs: int = 0
    # when the worker computed the board, and from how many of the votes
    freshness: Freshness | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Leaderboard:
        models = [build(ModelRating, m) for m in data.get("models", [])]
        freshness = Freshness.from_json(data.get("freshness"))
        return build(cls, data, models=models, freshness=freshness)

    def to_pandas(self) -> Any:
        """One row per model: rating, interval, rank and counts."""
        rows = [
            {
                "model": m.model,
                "rank": m.rank,
                "rating": m.rating,
                "low": m.interval[0],
                "high": m.interval[1],
                "votes": m.votes,
                "wins": m.wins,
                "losses": m.losses,
                "ties": m.ties,
                "both_bad": m.both_bad,
                "mean_length": m.mean_length,
            }
            for m in self.models
        ]
        return _frame(rows)


@dataclass
class RewardModel:
    """One reward model version of a project (trained here, or external)."""

    id: int
    version: int
    mode: str
    is_active: bool
    name: str = ""
    backbone: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    judgements: int | None = None
    training_seconds: float | None = None
    trained_at: datetime | None = None
    promotion_note: str = ""
    reranked_at: datetime | None = None
    rerank_error: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Reward:
    reward: float
    z: float | None
    percentile: float | None
    std: float


@dataclass
class Scores:
    """The served model's rewards for each response, in the order given."""

    model: int
    rewards: list[Reward]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scores:
        return cls(data["model"], [build(Reward, r) for r in data["rewards"]])

    def best(self) -> int:
        """Index of the response with the highest reward (best-of-n)."""
        return max(range(len(self.rewards)), key=lambda i: self.rewards[i].reward)


def line_errors(errors: list[Any]) -> list[LineError]:
    """A job's errors (strings naming line and field) as LineErrors."""
    return [
        parse_line_error(e) if isinstance(e, str) else LineError(None, "", str(e)) for e in errors
    ]
