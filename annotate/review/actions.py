"""Review by project admins: invalidating and restoring judgements, gold labels.

An invalid judgement is kept with who invalidated it, when and why, but leaves the pair's
count, training snapshots, exports and stats; the pair goes back to the queue when it falls
below its overlap target. Every change is recorded as a ReviewEvent.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotate.judging.overlap import settle
from annotate.models import Choice, Judgement, Pair, ReviewEvent


class ReviewError(Exception):
    """A review action that cannot be done (no reason given, unknown label)."""


def invalidate_judgement(judgement: Judgement, *, by: User, reason: str) -> Judgement:
    """Mark the judgement invalid with a reason; a no-op when it already is."""
    if not reason.strip():
        raise ReviewError("say why the judgement is invalid")
    with transaction.atomic():
        pair, judgement = _lock(judgement)
        if judgement.invalidated_at is None:
            judgement.invalidated_at = timezone.now()
            judgement.invalidated_by = by
            judgement.invalid_reason = reason.strip()
            judgement.save(update_fields=["invalidated_at", "invalidated_by", "invalid_reason"])
            ReviewEvent.objects.create(
                judgement=judgement,
                action=ReviewEvent.Action.INVALIDATED,
                reason=judgement.invalid_reason,
                by=by,
            )
            _recount(pair)
    return judgement


def restore_judgement(judgement: Judgement, *, by: User) -> Judgement:
    """Make an invalidated judgement count again; a no-op when it is valid."""
    with transaction.atomic():
        pair, judgement = _lock(judgement)
        if judgement.invalidated_at is not None:
            judgement.invalidated_at = None
            judgement.invalidated_by = None
            judgement.invalid_reason = ""
            judgement.save(update_fields=["invalidated_at", "invalidated_by", "invalid_reason"])
            ReviewEvent.objects.create(
                judgement=judgement, action=ReviewEvent.Action.RESTORED, by=by
            )
            _recount(pair)
    return judgement


def _lock(judgement: Judgement) -> tuple[Pair, Judgement]:
    """Lock the pair first (the order record_judgement uses), then re-read the judgement."""
    pair = Pair.objects.select_for_update().select_related("project").get(pk=judgement.pair_id)
    return pair, Judgement.objects.select_for_update().get(pk=judgement.pk)


def _recount(pair: Pair) -> None:
    """Caller holds the Pair row lock."""
    choices = list(pair.judgements.valid().values_list("choice", flat=True))
    # The same rule as a new vote: adaptive overlap may want another vote once one is gone.
    settle(pair, pair.project, choices)
    pair.save(update_fields=["judgement_count", "status", "extra_judgements", "gold_label"])


def set_gold_label(pair: Pair, *, label: str) -> Pair:
    """Set the pair's gold label (a, b, tie, both_bad), or clear it with ""."""
    if label and label not in Choice.values:
        raise ReviewError(f"unknown gold label {label!r}")
    pair.gold_label = label
    pair.save(update_fields=["gold_label"])
    return pair
