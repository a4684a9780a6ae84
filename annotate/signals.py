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
# models and ratings (the human ranking). Receivers return a dict of extra sections (rewards
# adds the reward model's view) so annotate shows them without importing their app.
leaderboard_built = Signal()

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
