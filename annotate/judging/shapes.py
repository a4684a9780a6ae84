"""What a judgement holds beyond one pairwise choice: a ranking, criteria, ratings, an edit.

The one place that checks a project's judgement settings (`comparison`, `criteria`,
`rating_scale`, `edits` with its rules `edit_below` and `judge_edits`) and the payload a
judgement carries under them, raising ShapeError named for the field; and what a ranking says
of two of its responses.

A ranking is a list of groups of response ids, best first; the ids of one group are tied
(`[[12], [7, 9], [3]]`). Stored canonically: ids sorted within a group. It implies, for every
two responses in different groups, that the one in the earlier group is better: its decisive
pairs. Two responses in one group are a tie, which no export of decisive pairs holds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from annotate.models import Assignment, Comparison, Edits, Judgement, Pair, Project

Ranking = list[list[int]]

CRITERION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,39}$")
# The overall preference is the judgement's own choice or ranking, never a criterion.
RESERVED_CRITERIA = frozenset({"overall"})
MAX_CRITERIA = 10
MAX_GUIDANCE = 2000
# A 0-10 scale is the widest in use (HelpSteer's 0-4, UltraFeedback's 1-5 and 1-10 fit).
MAX_SCALE_VALUES = 11
MAX_SCALE_LABEL = 40
MAX_EDIT = 100_000
# Settings that give every judgement its meaning: fixed once the project has one. The edit
# rules (`edits`, `edit_below`, `judge_edits`) are not: they say what is asked from now on,
# and a stored edit means the same whatever they were.
FIXED_ONCE_JUDGED = ("comparison", "criteria", "rating_scale")
EDIT_RULES = ("edits", "rating_scale", "edit_below", "judge_edits")
# A pairwise criterion vote as the annotator saw it, and as it is stored (the pair's a/b).
SHOWN_CHOICES = ("left", "right", "tie", "both_bad")


class ShapeError(ValueError):
    """A setting or a judgement payload this project cannot take; `field` names what."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ---------------------------------------------------------------- settings


def clean_criteria(value: Any) -> list[dict[str, Any]]:
    """A project's criteria as stored: `[{"name", "guidance", "required"}]`, names unique."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise ShapeError("criteria", 'must be a list of {"name", "guidance", "required"}')
    if len(value) > MAX_CRITERIA:
        raise ShapeError("criteria", f"at most {MAX_CRITERIA} criteria")
    cleaned: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        where = f"criteria[{index}]"
        if not isinstance(item, dict) or set(item) - {"name", "guidance", "required"}:
            raise ShapeError("criteria", f'{where}: must be {{"name", "guidance", "required"}}')
        name = item.get("name")
        if not isinstance(name, str) or not CRITERION_NAME.match(name):
            raise ShapeError(
                "criteria", f"{where}: name must be 1-40 letters, digits, _ or - (got {name!r})"
            )
        if name in RESERVED_CRITERIA:
            raise ShapeError("criteria", f"{where}: {name!r} is the overall preference itself")
        if any(c["name"] == name for c in cleaned):
            raise ShapeError("criteria", f"{where}: {name!r} is named twice")
        guidance = item.get("guidance", "")
        if not isinstance(guidance, str) or len(guidance) > MAX_GUIDANCE:
            raise ShapeError("criteria", f"{where}: guidance must be text of at most 2000 chars")
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise ShapeError("criteria", f"{where}: required must be true or false")
        cleaned.append({"name": name, "guidance": guidance, "required": required})
    return cleaned


def clean_rating_scale(value: Any) -> list[int | str]:
    """A rating scale as stored: 2 to 11 distinct values (integers or short labels), worst
    first; empty when responses are not rated."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise ShapeError("rating_scale", "must be a list of values, worst first")
    if len(value) == 1 or len(value) > MAX_SCALE_VALUES:
        raise ShapeError("rating_scale", f"must have 2 to {MAX_SCALE_VALUES} values (or none)")
    for item in value:
        label = isinstance(item, str) and 0 < len(item.strip()) <= MAX_SCALE_LABEL
        if not (label or (isinstance(item, int) and not isinstance(item, bool))):
            raise ShapeError(
                "rating_scale", f"values are integers or labels of 1-40 chars (got {item!r})"
            )
    if len(set(value)) != len(value):
        raise ShapeError("rating_scale", "values must be distinct")
    return list(value)


def check_settings_change(project: Project | None, changes: dict[str, Any]) -> None:
    """Refuse changing what judgements mean once there are some (and the comparison once
    the project has items, which were made for the other shape)."""
    if project is None or project.pk is None:
        return
    changed = [f for f in FIXED_ONCE_JUDGED if f in changes and changes[f] != getattr(project, f)]
    if not changed:
        return
    if "comparison" in changed and Pair.objects.filter(project=project).exists():
        raise ShapeError(
            "comparison", "is fixed once the project has pairs; make a new project to change it"
        )
    if Judgement.objects.filter(pair__project=project).exists():
        raise ShapeError(
            changed[0], "is fixed once judging has started; make a new project to change it"
        )


def check_edit_rules(project: Project | None, changes: dict[str, Any]) -> None:
    """Refuse an `edit_below` off the rating scale or without required edits, and
    `judge_edits` without edits, as the project would be with `changes` applied."""
    base = project if project is not None else Project()
    after = {name: changes.get(name, getattr(base, name)) for name in EDIT_RULES}
    below, scale = after["edit_below"], after["rating_scale"] or []
    if below is not None:
        if after["edits"] != Edits.REQUIRED:
            raise ShapeError("edit_below", 'applies only where edits are "required"')
        if not scale:
            raise ShapeError("edit_below", "needs a rating scale")
        if not on_scale(below, scale):
            raise ShapeError("edit_below", f"{below!r} is not on this project's rating scale")
        if below == scale[0]:
            raise ShapeError("edit_below", f"no rating is below {below!r}, the lowest")
    if after["judge_edits"] and after["edits"] == Edits.OFF:
        raise ShapeError("judge_edits", "needs edits (optional or required)")


def on_scale(value: Any, scale: Sequence[int | str]) -> bool:
    """A value of the scale as it is stored (true is not 1, "1" is not 1)."""
    return type(value) in (int, str) and any(
        type(value) is type(item) and value == item for item in scale
    )


# ---------------------------------------------------------------- rankings


def parse_ranking(
    value: Any, response_ids: Sequence[int], *, field: str = "ranking", allow_ties: bool = True
) -> Ranking:
    """A ranking of exactly `response_ids`, each once, canonical (ids sorted within a group)."""
    if not isinstance(value, list) or not value:
        raise ShapeError(field, "must be a list of groups of response ids, best first")
    seen: list[int] = []
    groups: Ranking = []
    for group in value:
        if not isinstance(group, list) or not group:
            raise ShapeError(field, "each group must be a non-empty list of response ids")
        for rid in group:
            if not isinstance(rid, int) or isinstance(rid, bool) or rid not in response_ids:
                raise ShapeError(field, f"{rid!r} is not one of this item's responses")
            if rid in seen:
                raise ShapeError(field, f"response {rid} is ranked twice")
            seen.append(rid)
        if len(group) > 1 and not allow_ties:
            raise ShapeError(field, "this project does not allow ties")
        groups.append(sorted(group))
    missing = [rid for rid in response_ids if rid not in seen]
    if missing:
        raise ShapeError(field, f"leaves out response(s) {', '.join(map(str, missing))}")
    return groups


def implied_choice(ranking: Ranking, a: int, b: int) -> str:
    """What the ranking says of response a against response b: "a", "b" or "tie"."""
    place = {rid: index for index, group in enumerate(ranking) for rid in group}
    if place[a] == place[b]:
        return "tie"
    return "a" if place[a] < place[b] else "b"


# ---------------------------------------------------------------- a judgement's payload


@dataclass(frozen=True)
class RichInput:
    """What a judgement carries beside the pairwise choice, as the client sent it."""

    ranking: Any = None
    criteria: Any = None
    ratings: Any = None
    edit: Any = None


@dataclass(frozen=True)
class Judged:
    """A judgement as it will be stored: the choice as shown (left/right/tie/both_bad, for
    the pairwise checks and the canonical choice) and the rest in stored terms."""

    choice: str
    ranking: Ranking | None = None
    criteria: dict[str, Any] = field(default_factory=dict)
    ratings: dict[str, Any] = field(default_factory=dict)
    edit: str | None = None
    edit_parent: int | None = None  # the response the edit improves

    def stored(self) -> dict[str, Any]:
        """The Judgement columns of the payload beyond the choice."""
        return {
            "ranking": self.ranking,
            "criteria": self.criteria or None,
            "ratings": self.ratings or None,
        }


def is_plain(project: Project) -> bool:
    """A pairwise project that asks for nothing but the choice (the judging hot path)."""
    return (
        project.comparison == Comparison.PAIRWISE
        and not project.criteria
        and not project.rating_scale
        and project.edits == Edits.OFF
    )


def shown_ids(assignment: Assignment) -> list[int]:
    """The response ids as the annotator saw them: display order, or (left, right)."""
    if assignment.shown_order is not None:
        return list(assignment.shown_order)
    pair = assignment.pair
    a, b = pair.response_a_id, pair.response_b_id
    return [a, b] if assignment.left_is_a else [b, a]


def read_judgement(
    project: Project, assignment: Assignment, *, choice: str | None, rich: RichInput | None
) -> Judged:
    """Check a judgement's payload against the project and put it in stored terms.

    Needs no query: the display order is on the assignment, the pair's ids on the pair.
    """
    if is_plain(project) and (rich is None or rich == RichInput()):
        if choice is None:
            raise ShapeError("choice", "is required")
        return Judged(choice)
    rich = rich or RichInput()
    pair = assignment.pair
    ids = shown_ids(assignment)
    ranking: Ranking | None = None
    if project.comparison == Comparison.RANKING:
        if choice is not None:
            raise ShapeError("choice", "a ranking project takes a ranking, not a choice")
        if rich.ranking is None:
            raise ShapeError("ranking", "is required")
        ranking = parse_ranking(rich.ranking, ids, allow_ties=project.allow_tie)
        implied = implied_choice(ranking, pair.response_a_id, pair.response_b_id)
        choice = _shown_choice(implied, assignment)
    elif rich.ranking is not None:
        raise ShapeError("ranking", "this project compares pairs; send a choice")
    elif choice is None:
        raise ShapeError("choice", "is required")
    criteria = _criteria(project, assignment, ids, rich.criteria)
    ratings = _ratings(project, assignment, ids, rich.ratings)
    edit, parent = _edit(project, assignment, choice, ranking, ratings, rich.edit)
    return Judged(choice, ranking, criteria, ratings, edit, parent)


def _shown_choice(canonical: str, assignment: Assignment) -> str:
    if canonical == "tie":
        return "tie"
    return "left" if (canonical == "a") == assignment.left_is_a else "right"


def _canonical(shown: str, assignment: Assignment) -> str:
    if shown in ("left", "right"):
        return "a" if (shown == "left") == assignment.left_is_a else "b"
    return shown


def _criteria(
    project: Project, assignment: Assignment, ids: list[int], value: Any
) -> dict[str, Any]:
    """{name: canonical choice (pairwise) or ranking}; every required criterion present."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise ShapeError("criteria", "must be an object of {criterion name: vote}")
    known = {c["name"]: c for c in project.criteria}
    for name in value:
        if name not in known:
            raise ShapeError("criteria", f"{name!r} is not a criterion of this project")
    for name, criterion in known.items():
        if criterion["required"] and value.get(name) is None:
            raise ShapeError("criteria", f"{name!r} is required")
    votes: dict[str, Any] = {}
    for name, vote in value.items():
        if vote is None:
            continue
        if project.comparison == Comparison.RANKING:
            votes[name] = parse_ranking(
                vote, ids, field=f"criteria.{name}", allow_ties=project.allow_tie
            )
            continue
        if vote not in SHOWN_CHOICES:
            raise ShapeError("criteria", f"{name!r}: must be one of {', '.join(SHOWN_CHOICES)}")
        if (vote == "tie" and not project.allow_tie) or (
            vote == "both_bad" and not project.allow_both_bad
        ):
            raise ShapeError("criteria", f"{name!r}: this project does not allow {vote}")
        votes[name] = _canonical(vote, assignment)
    return votes


def _ratings(
    project: Project, assignment: Assignment, ids: list[int], value: Any
) -> dict[str, Any]:
    """{response id as text: value on the scale}; pairwise keys may be "left"/"right"."""
    if value in (None, {}):
        return {}
    scale = project.rating_scale
    if not scale:
        raise ShapeError("ratings", "this project does not rate responses")
    if not isinstance(value, dict):
        raise ShapeError("ratings", "must be an object of {response id: rating}")
    sides = {"left": ids[0], "right": ids[1]} if project.comparison == Comparison.PAIRWISE else {}
    ratings: dict[str, Any] = {}
    for key, rating in value.items():
        rid = sides.get(key) or (int(key) if key.isascii() and key.isdecimal() else None)
        if rid not in ids:
            raise ShapeError("ratings", f"{key!r} is not one of the responses shown")
        if not on_scale(rating, scale):
            raise ShapeError("ratings", f"{rating!r} is not on this project's scale")
        ratings[str(rid)] = rating
    return ratings


def _edit(
    project: Project,
    assignment: Assignment,
    choice: str,
    ranking: Ranking | None,
    ratings: dict[str, Any],
    value: Any,
) -> tuple[str | None, int | None]:
    """The edit's text and the response it improves: the single best one."""
    if value is None:
        best = _best(assignment, choice, ranking)
        if best is not None and edit_required(project, ratings.get(str(best))):
            below = project.edit_below
            when = "" if below is None else f" when the better response is rated below {below!r}"
            raise ShapeError("edit", f"is required{when}: improve the better response")
        return None, None
    if project.edits == Edits.OFF:
        raise ShapeError("edit", "this project does not take edits")
    if not isinstance(value, str) or not value.strip():
        raise ShapeError("edit", "is empty")
    if len(value) > MAX_EDIT:
        raise ShapeError("edit", f"is longer than {MAX_EDIT} characters")
    best = _best(assignment, choice, ranking)
    if best is None:
        raise ShapeError("edit", "needs one best response to improve (not a tie)")
    return value, best


def edit_required(project: Project, rating: Any) -> bool:
    """Whether a judgement whose better response got `rating` (None: unrated) needs an edit:
    with edits required, always, or under `edit_below` only below that value of the scale
    (an unrated better response needs one too)."""
    if project.edits != Edits.REQUIRED:
        return False
    below, scale = project.edit_below, list(project.rating_scale)
    if below is None or rating is None or not on_scale(below, scale):
        return True
    return scale.index(rating) < scale.index(below)


def _best(assignment: Assignment, choice: str, ranking: Ranking | None) -> int | None:
    if ranking is not None:
        return ranking[0][0] if len(ranking[0]) == 1 else None
    if choice not in ("left", "right"):
        return None
    pair = assignment.pair
    return pair.response_a_id if _canonical(choice, assignment) == "a" else pair.response_b_id
