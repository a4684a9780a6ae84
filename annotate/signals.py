"""Signals the annotation side sends; other apps (rewards) subscribe, annotate imports none."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Sent after an import that created responses has committed; kwargs: project.
responses_imported = Signal()

# Sent once the transaction that made a change has committed (never for one rolled back), for
# systems outside the product (webhooks); kwargs: project, event (its name, e.g.
# "judgement.created"), data (a JSON-ready dict). Send it with `send_project_event`.
project_event = Signal()


def send_project_event(project: Any, event: str, data: dict[str, Any]) -> None:
    """Send `project_event` after the current transaction commits (at once outside one)."""
    transaction.on_commit(functools.partial(_send_project_event, project, event, data), robust=True)


def _send_project_event(project: Any, event: str, data: dict[str, Any]) -> None:
    # A receiver's failure must not fail the change that already committed: it is logged.
    for receiver, result in project_event.send_robust(
        sender=type(project), project=project, event=event, data=data
    ):
        if isinstance(result, Exception):
            logger.error("%s receiver %r failed", event, receiver, exc_info=result)


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


# Sent when the AI judges' votes are wanted (the quality report; training, exports and the
# leaderboard where the project counts them); kwargs: project. A receiver returns a list of
# JudgeVotes, one per judge; read them with `judge_votes`.
judge_votes_wanted = Signal()


@dataclass(frozen=True)
class JudgeVotes:
    """One AI judge's votes on a project's pairs, as the rater `rater` (a user who cannot log in).

    A vote is a pair's two verdicts, one with each response shown first, when they agree.
    """

    rater: int
    name: str
    votes: dict[int, str]  # pair id -> "a", "b" or "tie"
    inconsistent: frozenset[int]  # pairs whose two verdicts differed: no vote
    unparsed: frozenset[int]  # pairs with a verdict that did not parse: no vote
    first_shown: int  # decisive verdicts that chose the answer shown first
    decisive_verdicts: int


def judge_votes(project: Any) -> list[JudgeVotes]:
    """Every AI judge's votes on the project (none when no app answers)."""
    replies: list[tuple[Any, Any]] = judge_votes_wanted.send(sender=type(project), project=project)
    found: list[JudgeVotes] = []
    for _, reply in replies:
        if isinstance(reply, list):
            found.extend(votes for votes in reply if isinstance(votes, JudgeVotes))
    return found
