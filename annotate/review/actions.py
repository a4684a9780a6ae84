"""Review by project admins: invalidating and restoring judgements, a criterion's vote or an
edit, and gold labels.

An invalid judgement (a ranking included: it is one judgement) is kept with who invalidated
it, when and why, but leaves the pair's count, training snapshots, exports and stats; the pair
goes back to the queue when it falls below its overlap target. A part of a judgement may be
invalid on its own (`part`, review/parts.py): one criterion's vote ("criterion:NAME", listed
in Judgement.invalid_criteria) leaves that criterion's exports and stats while the rest of the
judgement counts; an edit ("edit", Response.invalidated_at) leaves the sft export and later
pairs. Every change is recorded as a ReviewEvent naming its part.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotate.judging.gold import set_gold
from annotate.judging.overlap import SETTLED_FIELDS, settle_from_votes
from annotate.judging.shapes import (
    SHOWN_CHOICES,
    Ranking,
    ShapeError,
    implied_choice,
    parse_ranking,
)
from annotate.models import (
    Choice,
    Judgement,
    Pair,
    PairStatus,
    Project,
    RankedResponse,
    Response,
    ReviewEvent,
)
from annotate.review.parts import CRITERION, EDIT, WHOLE


class ReviewError(Exception):
    """A review action that cannot be done (no reason given, unknown label or part); `field`
    names the input at fault."""

    def __init__(self, message: str, *, field: str = "reason") -> None:
        super().__init__(message)
        self.field = field


def check_part(judgement: Judgement, part: str) -> str:
    """The part of `judgement` that `part` names ("" the whole judgement, "criterion:NAME",
    "edit"); raises ReviewError (field `part`) when the judgement has no such part."""
    if part == WHOLE:
        return part
    if part == EDIT:
        if judgement.edit_id is None:
            raise ReviewError("this judgement has no edit", field="part")
        if not Response.objects.filter(pk=judgement.edit_id, parent__isnull=False).exists():
            # Its text was a response the prompt already had, which the judgement now names.
            raise ReviewError(
                "this judgement's edit is a response imported for the prompt; "
                "invalidate the judgement instead",
                field="part",
            )
        return part
    if part.startswith(CRITERION):
        name = part.removeprefix(CRITERION)
        if (judgement.criteria or {}).get(name) is None:
            raise ReviewError(f"this judgement has no vote for criterion {name!r}", field="part")
        return part
    raise ReviewError('use "", "edit" or "criterion:NAME"', field="part")


def invalidate_judgement(
    judgement: Judgement, *, by: User, reason: str, part: str = WHOLE
) -> Judgement:
    """Mark the judgement, or one part of it, invalid with a reason; a no-op when it already
    is."""
    check_part(judgement, part)
    if not reason.strip():
        raise ReviewError("say why the judgement is invalid")
    with transaction.atomic():
        pair, judgement = _lock(judgement)
        reason = reason.strip()
        if part:
            changed = _invalidate_part(judgement, part)
        else:
            changed = _invalidate_whole(judgement, by, reason)
        if changed:
            ReviewEvent.objects.create(
                judgement=judgement,
                action=ReviewEvent.Action.INVALIDATED,
                part=part,
                reason=reason,
                by=by,
            )
            if not part:
                _recount(pair)
    return judgement


def restore_judgement(judgement: Judgement, *, by: User, part: str = WHOLE) -> Judgement:
    """Make an invalidated judgement, or part of one, count again; a no-op when it does."""
    check_part(judgement, part)
    with transaction.atomic():
        pair, judgement = _lock(judgement)
        changed = _restore_part(judgement, part) if part else _restore_whole(judgement)
        if changed:
            ReviewEvent.objects.create(
                judgement=judgement, action=ReviewEvent.Action.RESTORED, part=part, by=by
            )
            if not part:
                _recount(pair)
    return judgement


def _invalidate_whole(judgement: Judgement, by: User, reason: str) -> bool:
    if judgement.invalidated_at is not None:
        return False
    judgement.invalidated_at = timezone.now()
    judgement.invalidated_by = by
    judgement.invalid_reason = reason
    judgement.save(update_fields=["invalidated_at", "invalidated_by", "invalid_reason"])
    # its edit goes with it, unless another valid judgement wrote the same text
    if judgement.edit_id is not None and not _edit_named_elsewhere(judgement):
        _edit_found_wanting(judgement.edit_id)
    return True


def _restore_whole(judgement: Judgement) -> bool:
    if judgement.invalidated_at is None:
        return False
    judgement.invalidated_at = None
    judgement.invalidated_by = None
    judgement.invalid_reason = ""
    judgement.save(update_fields=["invalidated_at", "invalidated_by", "invalid_reason"])
    # its edit comes back with it, unless review found the edit itself wanting
    if judgement.edit_id is not None and not _edit_reviewed_wanting(judgement.edit_id):
        _edit_restored(judgement)
    return True


def _edit_named_elsewhere(judgement: Judgement) -> bool:
    others = Judgement.objects.valid().filter(edit_id=judgement.edit_id)
    return others.exclude(pk=judgement.pk).exists()


def _edit_reviewed_wanting(edit_id: int) -> bool:
    """Whether the last review of this edit itself (part "edit") invalidated it."""
    last = (
        ReviewEvent.objects.filter(judgement__edit_id=edit_id, part=EDIT)
        .order_by("-at", "-pk")
        .values_list("action", flat=True)
        .first()
    )
    return last == ReviewEvent.Action.INVALIDATED


# An edit written while judging has the response it improves; a text the prompt already had
# is that response itself, which review of an edit never touches.
WRITTEN = Q(parent__isnull=False)


def _edit_found_wanting(edit_id: int) -> bool:
    """Mark the edit invalid, and take it out of later pairs: its queued pairs want no more
    votes (the votes on them stay, out of exports and training)."""
    found = Response.objects.filter(WRITTEN, pk=edit_id, invalidated_at__isnull=True)
    if found.update(invalidated_at=timezone.now()) != 1:
        return False
    queued = Pair.objects.filter(response_b_id=edit_id, meta__has_key="edit_of")
    queued.filter(status=PairStatus.PENDING).update(status=PairStatus.COMPLETE)
    return True


def _edit_restored(judgement: Judgement) -> bool:
    """Count the edit again: its queued pairs settle on their votes again (back in the queue
    when short of them), and it is queued where it has no pair yet."""
    edit_id = _edit_id(judgement)
    found = Response.objects.filter(WRITTEN, pk=edit_id, invalidated_at__isnull=False)
    if found.update(invalidated_at=None) != 1:
        return False
    project = judgement.pair.project
    queued = Pair.objects.filter(response_b_id=edit_id, meta__has_key="edit_of")
    for pair in queued.select_for_update().select_related("project"):
        settle_from_votes(pair, pair.project)
        pair.save(update_fields=SETTLED_FIELDS)
    if project.judge_edits:
        from annotate.judging.recording import queue_edit

        edit = Response.objects.select_related("parent").get(pk=edit_id)
        if edit.parent is not None:
            queue_edit(project, judgement, edit, edit.parent)
    return True


def _invalidate_part(judgement: Judgement, part: str) -> bool:
    if part == EDIT:
        # The edit is a response of its own: found wanting, it is wanting wherever it is used.
        # Already invalid with its judgement, the finding is still recorded, so restoring the
        # judgement leaves the edit out.
        edit_id = _edit_id(judgement)
        return _edit_found_wanting(edit_id) or not _edit_reviewed_wanting(edit_id)
    name = part.removeprefix(CRITERION)
    invalid = list(judgement.invalid_criteria or [])
    if name in invalid:
        return False
    judgement.invalid_criteria = [*invalid, name]
    judgement.save(update_fields=["invalid_criteria"])
    return True


def _restore_part(judgement: Judgement, part: str) -> bool:
    if part == EDIT:
        return _edit_restored(judgement)
    name = part.removeprefix(CRITERION)
    invalid = list(judgement.invalid_criteria or [])
    if name not in invalid:
        return False
    judgement.invalid_criteria = [n for n in invalid if n != name] or None
    judgement.save(update_fields=["invalid_criteria"])
    return True


def _edit_id(judgement: Judgement) -> int:
    assert judgement.edit_id is not None  # check_part refused a judgement without an edit
    return judgement.edit_id


def _lock(judgement: Judgement) -> tuple[Pair, Judgement]:
    """Lock the pair first (the order record_judgement uses), then re-read the judgement."""
    pair = Pair.objects.select_for_update().select_related("project").get(pk=judgement.pair_id)
    return pair, Judgement.objects.select_for_update().get(pk=judgement.pk)


def _recount(pair: Pair) -> None:
    """Caller holds the Pair row lock."""
    # The same rule as a new vote: adaptive overlap may want another vote once one is gone.
    settle_from_votes(pair, pair.project)
    pair.save(update_fields=SETTLED_FIELDS)


GOLD_FIELDS = ["gold_label", "gold_ranking", "gold_criteria"]


def set_gold_label(
    pair: Pair,
    *,
    label: str,
    ranking: Ranking | None = None,
    criteria: dict[str, Any] | None = None,
) -> Pair:
    """Set the item's gold: a label (a, b, tie, both_bad), or a ranking item's gold ranking
    (groups of its response ids, best first), with gold votes per criterion beside either.

    `criteria` None keeps the item's gold per criterion ({} clears it); a label that agrees
    with the item's gold ranking keeps the ranking. "" and no ranking clears all of it.
    """
    if label and label not in Choice.values:
        raise ReviewError(f"unknown gold label {label!r}", field="label")
    if not label and ranking is None:
        if criteria:
            raise ReviewError(
                "gold per criterion needs the overall gold beside it: a label or a ranking",
                field="criteria",
            )
        pair.gold_label, pair.gold_ranking, pair.gold_criteria = "", None, None
        pair.save(update_fields=GOLD_FIELDS)
        return pair
    ids = list(RankedResponse.objects.filter(pair=pair).values_list("response_id", flat=True))
    try:
        if ranking is not None:
            if not ids:
                raise ShapeError("ranking", "only a ranking item has a gold ranking")
            ranking = parse_ranking(ranking, ids)
        votes = None if criteria is None else _gold_criteria(pair.project, ids, criteria)
        kept = pair.gold_ranking
        a, b = pair.response_a_id, pair.response_b_id
        if ranking is None and kept is not None and label != implied_choice(kept, a, b):
            pair.gold_ranking = None  # a label the stored ranking does not say
        changed = set_gold(pair, label=label, ranking=ranking, criteria=votes or None)
    except ShapeError as exc:
        raise ReviewError(exc.message, field=exc.field) from exc
    if votes == {}:
        pair.gold_criteria = None
    pair.save(update_fields=sorted({*changed, *GOLD_FIELDS}))
    return pair


def _gold_criteria(project: Project, ids: list[int], value: dict[str, Any]) -> dict[str, Any]:
    """Gold votes per criterion in stored terms: a/b/tie/both_bad, or a ranking of the item."""
    if not isinstance(value, dict):
        raise ShapeError("criteria", "must be an object of {criterion name: gold vote}")
    known = {c["name"] for c in project.criteria}
    votes: dict[str, Any] = {}
    for name, vote in value.items():
        if name not in known:
            raise ShapeError("criteria", f"{name!r} is not a criterion of this project")
        if ids:
            votes[name] = parse_ranking(vote, ids, field=f"criteria.{name}")
        elif vote in ("a", "b", *SHOWN_CHOICES[2:]):
            votes[name] = vote
        else:
            raise ShapeError("criteria", f"{name!r}: must be one of a, b, tie, both_bad")
    return votes
