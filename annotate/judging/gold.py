"""Gold checks: hidden gold pairs mixed into the queue, and pausing annotators who fail them.

A gold pair (`Pair.gold_label` set) is served only as a check, at the project's `gold_rate`,
never twice to one annotator, and looks like any other pair. Its judgements count toward the
annotator's accuracy and never toward training or exports (`quality.training_judgements`).
"""

from __future__ import annotations

import random

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotate.models import Assignment, Judgement, Membership, Pair, Project
from annotate.signals import send_project_event

GOLD = ~Q(gold_label="")
GOLD_PAIR = ~Q(pair__gold_label="")


class AnnotatorPaused(Exception):
    """The annotator may not take new pairs in this project; the message says why."""


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
    """(correct, answered) gold judgements since the annotator was last reinstated."""
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
    rows = list(answers.values_list("choice", "pair__gold_label"))
    return sum(choice == gold for choice, gold in rows), len(rows)


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
