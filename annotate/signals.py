"""Signals the annotation side sends; other apps (rewards) subscribe, annotate imports none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.dispatch import Signal

# Sent after an import that created responses has committed; kwargs: project.
responses_imported = Signal()

# Sent when a project's leaderboard is built; kwargs: project, judgements (the counted ones),
# models and ratings (the human ranking). A receiver returns a RewardModelView (or None), which
# the board shows beside the human ranking without annotate importing its app.
leaderboard_built = Signal()


@dataclass(frozen=True)
class RewardModelRow:
    """A source model as the served reward model sees it, beside its human rating."""

    model: str
    mean_reward: float | None
    rating: float | None  # implied by P(a > b) on the judged pairs
    rank: int | None
    human_rating: float


@dataclass(frozen=True)
class RewardModelView:
    """The served reward model's reading of the leaderboard: rows in human-rating order."""

    version: int
    pairs: int  # votes on pairs whose two responses it scored
    models: list[RewardModelRow]
    spearman: float | None
    kendall: float | None
    mean_reward_spearman: float | None


# Sent while the pair page is built; kwargs: pair. A receiver returns a PairDetail (or None)
# to show its own facts about the pair, e.g. the served reward model's rewards.
pair_details = Signal()


@dataclass(frozen=True)
class PairDetail:
    title: str
    rows: list[tuple[str, str]]


# Sent while the data browser lists its sorts; kwargs: project. A receiver returns a PairSort
# (or None) to offer a sort on a key it computes, e.g. the served model's reward margin.
pair_sorts = Signal()


@dataclass(frozen=True)
class PairSort:
    name: str
    label: str
    # Annotates the pair queryset with a non-null `sort_key` to order by.
    annotate: Callable[[QuerySet[Any]], QuerySet[Any]]
    descending: bool = False
