"""Gold checks: hidden gold items mixed into the queue, and pausing annotators who fail them.

A gold item (`Pair.gold_label` set) is served only as a check, at the project's `gold_rate`,
never twice to one annotator, and looks like any other item. Its judgements count toward the
annotator's accuracy and never toward training or exports (`quality.training_judgements`).

Beside the overall label an item may hold a gold ranking (`Pair.gold_ranking`, ranking items)
and gold votes per criterion (`Pair.gold_criteria`). `gold_label` stays the mark of a gold item
everywhere (queue, exports, quality): `set_gold` writes a ranking item's label as what its gold
ranking says of response_a against response_b, as a judgement's choice is.

Every gold vote is one check question of the annotator's record; a judgement of a gold item
answers one for the overall preference and one per criterion it votes on that has a gold vote:

- a pairwise vote (overall or per criterion) is right when it is the gold one;
- a ranking (overall or per criterion) is right when it orders every decisive pair of the gold
  ranking the same way: each response the gold ranks above another is ranked above it (not
  tied with it). Responses the gold ranking ties may come in either order, so whoever writes
  the gold says what is certain by its groups and ties the rest. No threshold to tune, and
  for two responses it is the pairwise rule. A gold ranking that ties every response checks
  nothing, so it is refused (`check_gold_ranking`).

A criterion the judgement leaves out (an optional one) or whose vote review invalidated asks
nothing. The pause rule reads the combined count.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotate.judging.shapes import Ranking, ShapeError, implied_choice
from annotate.models import Assignment, Comparison, Judgement, Membership, Pair, Project
from annotate.review.parts import counted_criteria
from annotate.signals import send_project_event

# A gold item has its label; a gold ranking or gold criteria come beside it (`set_gold`).
GOLD = ~Q(gold_label="")
GOLD_PAIR = ~Q(pair__gold_label="")


# What a gold judgement is checked on (`gold_checks`' arguments), read in one query.
CHECKED = (
    "choice",
    "ranking",
    "criteria",
    "invalid_criteria",
    "pair__gold_label",
    "pair__gold_ranking",
    "pair__gold_criteria",
)


class AnnotatorPaused(Exception):
    """The annotator may not take new pairs in this project; the message says why."""


def check_gold_ranking(ranking: Sequence[Sequence[int]], *, field: str = "ranking") -> None:
    """Refuse a gold ranking that orders nothing (every response in one group)."""
    if len(ranking) < 2:
        raise ShapeError(field, "a gold ranking must order at least two responses (not all tied)")


def set_gold(
    pair: Pair,
    *,
    label: str = "",
    ranking: Ranking | None = None,
    criteria: Mapping[str, Any] | None = None,
) -> list[str]:
    """Give the item its gold (not saved); returns the fields changed, for `save`.

    A ranking sets the label too (what it says of response_a against response_b); criteria
    need an overall gold beside them, the label or the ranking, which marks the item gold.
    """
    if ranking is not None:
        ranking = [sorted(group) for group in ranking]
        check_gold_ranking(ranking)
        label = implied_choice(ranking, pair.response_a_id, pair.response_b_id)
    for name, vote in (criteria or {}).items():
        if isinstance(vote, list):
            check_gold_ranking(vote, field=f"criteria.{name}")
    if criteria and not (label or pair.gold_label):
        raise ShapeError("criteria", "gold per criterion needs the overall gold beside it")
    changed = []
    if label and label != pair.gold_label:
        pair.gold_label = label
        changed.append("gold_label")
    if ranking is not None and ranking != pair.gold_ranking:
        pair.gold_ranking = ranking
        changed.append("gold_ranking")
    if criteria and dict(criteria) != (pair.gold_criteria or {}):
        pair.gold_criteria = dict(criteria)
        changed.append("gold_criteria")
    return changed


def paused_reason(annotator: User, project: Project) -> str:
    """Why the annotator is paused in this project, or "" when they are not."""
    if getattr(project, "role_user_id", None) == annotator.pk:
        return project.my_paused_reason or ""  # annotated by permissions.with_role
    return (
        Membership.objects.filter(project=project, user_id=annotator.pk)
        .values_list("paused_reason", flat=True)
        .first()
        or ""
    )


def check_not_paused(annotator: User, project: Project) -> None:
    reason = paused_reason(annotator, project)
    if reason:
        raise AnnotatorPaused(reason)


def pick_gold_pair(
    annotator: User, project: Project, *, rng: random.Random | None = None
) -> Pair | None:
    """With probability gold_rate, a gold pair this annotator has not been shown; else None."""
    draw = (rng or random).random()
    if project.gold_rate <= 0 or draw >= project.gold_rate:
        return None
    seen = Assignment.objects.filter(pair=OuterRef("pk"), annotator_id=annotator.pk)
    unseen = (
        Pair.objects.filter(GOLD, project=project)
        .exclude(Exists(seen))
        .select_related("prompt", "response_a", "response_b")
        .order_by("tiebreak")
    )
    # A random start on the fixed tiebreak order spreads annotators over the gold pairs.
    pivot = int(draw / project.gold_rate * 2**60)
    return unseen.filter(tiebreak__gte=pivot).first() or unseen.first()


def gold_record(annotator_id: int, project: Project) -> tuple[int, int]:
    """(right, asked) gold check questions since the annotator was last reinstated.

    Two queries whatever the project's shape: the reinstatement, then the gold judgements.
    """
    since = (
        Membership.objects.filter(project=project, user_id=annotator_id)
        .values_list("reinstated_at", flat=True)
        .first()
    )
    answers = Judgement.objects.valid().filter(
        GOLD_PAIR, pair__project=project, annotator_id=annotator_id
    )
    if since is not None:
        answers = answers.filter(created_at__gt=since)
    if project.comparison == Comparison.PAIRWISE and not project.criteria:
        rows = list(answers.values_list("choice", "pair__gold_label"))
        return sum(choice == gold for choice, gold in rows), len(rows)
    checks = [c for row in answers.values_list(*CHECKED) for c in gold_checks(*row)]
    return sum(checks), len(checks)


def gold_records(project: Project) -> dict[int, tuple[int, int]]:
    """Every annotator's (right, asked) check questions in the project, all time (one query),
    for reports; `gold_record` is the one the pause reads."""
    records: dict[int, tuple[int, int]] = {}
    answers = Judgement.objects.valid().filter(
        GOLD_PAIR, pair__project=project, annotator_id__isnull=False
    )
    for annotator_id, *row in answers.values_list("annotator_id", *CHECKED):
        checks = gold_checks(*row)
        right, asked = records.get(annotator_id, (0, 0))
        records[annotator_id] = (right + sum(checks), asked + len(checks))
    return records


def gold_checks(
    choice: str,
    ranking: Ranking | None,
    criteria: Mapping[str, Any] | None,
    invalid_criteria: Sequence[str] | None,
    gold_label: str,
    gold_ranking: Ranking | None,
    gold_criteria: Mapping[str, Any] | None,
) -> list[bool]:
    """Whether each check question of one gold judgement is right: the overall preference
    first, then each criterion with a gold vote that the judgement validly votes on."""
    if gold_ranking and isinstance(ranking, list):
        checks = [ranking_right(ranking, gold_ranking)]
    else:
        checks = [choice == gold_label]
    votes = counted_criteria(criteria, invalid_criteria)
    for name, gold in (gold_criteria or {}).items():
        vote = votes.get(name)
        if vote is None:
            continue
        if isinstance(gold, list):
            checks.append(isinstance(vote, list) and ranking_right(vote, gold))
        else:
            checks.append(vote == gold)
    return checks


def ranking_right(given: Sequence[Sequence[int]], gold: Sequence[Sequence[int]]) -> bool:
    """Whether `given` ranks above each other every two responses the gold ranking does."""
    place = {rid: i for i, group in enumerate(given) for rid in group}
    if any(rid not in place for group in gold for rid in group):
        return False
    return all(
        place[better] < place[worse]
        for i, group in enumerate(gold)
        for better in group
        for below in gold[i + 1 :]
        for worse in below
    )


def update_gold_pause(annotator_id: int, project: Project) -> None:
    """Pause the annotator once enough gold answers put them under the project's accuracy."""
    correct, answered = gold_record(annotator_id, project)
    if answered < max(project.gold_min_answers, 1):
        return
    if correct / answered < project.gold_min_accuracy:
        reason = (
            f"Paused: {correct} of {answered} check questions right ({correct / answered:.0%}); "
            f"this project needs {project.gold_min_accuracy:.0%}. An admin can reinstate you."
        )
        membership = Membership.objects.filter(project=project, user_id=annotator_id)
        if membership.filter(paused_reason="").update(paused_reason=reason):
            _send_flagged(project, annotator_id, reason=reason, by="gold")
        else:  # already paused: the reason gives the latest numbers
            membership.update(paused_reason=reason)


def pause_annotator(project: Project, user_id: int, *, reason: str) -> int:
    """Pause by hand; returns the number of memberships changed (0: not a member)."""
    reason = reason or "Paused by a project admin."
    changed = Membership.objects.filter(project=project, user_id=user_id).update(
        paused_reason=reason
    )
    if changed:
        _send_flagged(project, user_id, reason=reason, by="admin")
    return changed


def _send_flagged(project: Project, user_id: int, *, reason: str, by: str) -> None:
    """`annotator.flagged` once the pause commits; `by` is "gold" (checks) or "admin"."""
    username = User.objects.filter(pk=user_id).values_list("username", flat=True).first()
    send_project_event(
        project,
        "annotator.flagged",
        {"annotator_id": user_id, "annotator": username, "reason": reason, "by": by},
    )


def reinstate_annotator(project: Project, user_id: int) -> int:
    """Lift a pause; gold accuracy starts again from the answers after now."""
    return Membership.objects.filter(project=project, user_id=user_id).update(
        paused_reason="", reinstated_at=timezone.now()
    )
