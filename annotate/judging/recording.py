"""Recording a judgement: idempotent on client_id, stored in canonical a/b terms; with the
project's `judge_edits`, its edit queued to be judged as a new pending pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotate.formats import pair_key, ranking_key, sha256
from annotate.judging.gold import AnnotatorPaused, paused_reason, update_gold_pause
from annotate.judging.hot_sql import Locked, lock_for_judging
from annotate.judging.overlap import (
    SETTLED_FIELDS,
    settle_from_votes,
    settling_reads_votes,
    target,
)
from annotate.judging.queue import LeaseContended, lease_new_pair, lease_next_pair, live_leases
from annotate.judging.shapes import Judged, RichInput, ShapeError, read_judgement
from annotate.models import (
    AskRationale,
    Assignment,
    Choice,
    Comparison,
    Judgement,
    Pair,
    PairStatus,
    Project,
    Prompt,
    RankedResponse,
    Response,
)
from annotate.permissions import visible_projects
from annotate.signals import send_project_event

SHOWN_CHOICES = ("left", "right", Choice.TIE, Choice.BOTH_BAD)


class JudgingError(Exception):
    """A judgement that cannot be recorded; `status` is the HTTP status that says why."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidJudgement(JudgingError):
    status = 400


class LeaseNotFound(JudgingError):
    status = 404


class JudgingConflict(JudgingError):
    status = 409


@dataclass(frozen=True)
class Recorded:
    judgement: Judgement
    created: bool
    # The annotator's judgements in the project with this one, when known without a query.
    mine: int | None = None


def check_judgement_input(
    project: Project, *, choice: str, strength: int | None, rationale: str
) -> None:
    """Raise InvalidJudgement (naming the field) for what this project does not accept."""
    if choice not in SHOWN_CHOICES:
        raise InvalidJudgement(f"unknown choice {choice!r}", field="choice")
    if choice == Choice.TIE and not project.allow_tie:
        raise InvalidJudgement("this project does not allow ties", field="choice")
    if choice == Choice.BOTH_BAD and not project.allow_both_bad:
        raise InvalidJudgement('this project does not allow "both bad"', field="choice")
    if strength is not None and not 1 <= strength <= 3:
        raise InvalidJudgement("strength must be 1, 2 or 3", field="strength")
    if project.ask_rationale == AskRationale.REQUIRED and not rationale.strip():
        raise InvalidJudgement("a rationale is required in this project", field="rationale")


def canonical_choice(choice: str, *, left_is_a: bool) -> str:
    """Map what the annotator saw (left/right) to the pair's canonical a/b."""
    if choice == "left":
        return "a" if left_is_a else "b"
    if choice == "right":
        return "b" if left_is_a else "a"
    return choice


def record_judgement(
    assignment_id: int,
    annotator: User,
    *,
    choice: str | None = None,
    client_id: str,
    strength: int | None = None,
    rationale: str = "",
    duration_ms: int | None = None,
    ranking: Any = None,
    criteria: Any = None,
    ratings: Any = None,
    edit: str | None = None,
) -> Recorded:
    """Store a judgement for the annotator's lease, once per client_id.

    Repeating a client_id with the same judgement returns the stored one; with a different
    judgement it is a conflict. Client ids are the annotator's own: another user's are unseen.
    A ranking project's judgement is a `ranking` instead of a `choice`; `criteria`, `ratings`
    and `edit` are what the project asks beside it (annotate/judging/shapes.py).
    """
    rich = _rich(ranking, criteria, ratings, edit)
    submitted = _submitted(assignment_id, choice, strength, rationale, duration_ms, rich)
    try:
        with transaction.atomic():
            return _record(assignment_id, annotator, client_id, submitted, next_after=None)[0]
    except IntegrityError as error:
        return _repeated_after_race(error, client_id, annotator, submitted)


def _rich(ranking: Any, criteria: Any, ratings: Any, edit: str | None) -> RichInput | None:
    """The payload beyond the choice, or None when there is none (the plain pairwise vote)."""
    if ranking is None and criteria is None and ratings is None and edit is None:
        return None
    return RichInput(ranking=ranking, criteria=criteria, ratings=ratings, edit=edit)


def _submitted(
    assignment_id: int,
    choice: str | None,
    strength: int | None,
    rationale: str,
    duration_ms: int | None,
    rich: RichInput | None,
) -> dict[str, Any]:
    return {
        "assignment_id": assignment_id,
        "choice": choice,
        "strength": strength,
        "rationale": rationale,
        "duration_ms": duration_ms,
        "rich": rich,
    }


def _record(
    assignment_id: int,
    annotator: User,
    client_id: str,
    submitted: dict[str, Any],
    *,
    next_after: tuple[int | None] | None,
) -> tuple[Recorded, int | None]:
    """Record the judgement; with `next_after` (the `after` of a request for the next pair),
    also return the id of the annotator's open lease other than that one, if any (read in the
    same statement).

    Caller is in a transaction. The normal path is four statements: the locking read, the
    insert, and the two updates (`_lock_for_judging`).
    """
    locked = _lock_for_judging(assignment_id, annotator, next_after=next_after)
    if locked is None or locked.assignment.closed_at is not None:
        # Most likely a retry whose first attempt landed: answer with what it stored.
        existing = _by_client_id(client_id, annotator)
        if existing is not None:
            return _repeated(existing, submitted), None
        if locked is None:
            raise LeaseNotFound("no such assignment for this annotator")
    assignment = locked.assignment
    pair = assignment.pair
    project = pair.project
    if project.is_archived:
        raise JudgingConflict("this project is archived")
    judged = _judged(project, assignment, submitted)
    check_judgement_input(
        project,
        choice=judged.choice,
        strength=submitted["strength"],
        rationale=submitted["rationale"],
    )
    _check_slot(assignment, pair, already_judged=locked.already_judged)
    edited = _save_edit(pair, annotator, judged)
    judgement = Judgement.objects.create(
        pair=pair,
        annotator=annotator,
        assignment=assignment,
        shown_left="a" if assignment.left_is_a else "b",
        client_id=client_id,
        edit=edited[0] if edited else None,
        **_stored_fields(project, assignment, judged, **submitted),
    )
    if edited is not None and project.judge_edits:
        queue_edit(project, judgement, *edited)
    _close(assignment, Assignment.Outcome.JUDGED)
    completed = _count(pair)
    if pair.gold_label:
        update_gold_pause(annotator.pk, project)
        project.my_paused_reason = paused_reason(annotator, _unannotated(project))
    _send_events(project, judgement, annotator, completed=completed)
    # The membership's count was read before this judgement's insert (its trigger adds one).
    mine = None if locked.judgement_count is None else locked.judgement_count + 1
    return Recorded(judgement, created=True, mine=mine), locked.held


def _unannotated(project: Project) -> Project:
    """The project without the role annotations, so the pause is read from the database."""
    return Project(pk=project.pk)


def _repeated_after_race(
    error: IntegrityError, client_id: str, annotator: User, submitted: dict[str, Any]
) -> Recorded:
    """A concurrent retry with the same client_id won the race: its row is the answer."""
    existing = _by_client_id(client_id, annotator)
    if existing is None:
        raise error
    return _repeated(existing, submitted)


def _judged(project: Project, assignment: Assignment, submitted: dict[str, Any]) -> Judged:
    """The submitted payload checked against the project, in stored terms (no query)."""
    try:
        return read_judgement(
            project, assignment, choice=submitted["choice"], rich=submitted["rich"]
        )
    except ShapeError as exc:
        raise InvalidJudgement(exc.message, field=exc.field) from exc


def _save_edit(pair: Pair, annotator: User, judged: Judged) -> tuple[Response, Response] | None:
    """The annotator's edit as a response of the pair's prompt, its parent the one improved;
    returns (edit, the response it improves)."""
    if judged.edit is None or judged.edit_parent is None:
        return None
    parent = Response.objects.get(pk=judged.edit_parent)
    if parent.text == judged.edit:
        raise InvalidJudgement("is the same as the response it improves", field="edit")
    # An edit that reads like a response the prompt already has is that response.
    edit, _ = Response.objects.get_or_create(
        prompt_id=pair.prompt_id,
        content_hash=sha256(judged.edit),
        defaults={"text": judged.edit, "parent": parent, "author": annotator},
    )
    return edit, parent


# ---------------------------------------------------------------- edits judged later


def queue_edit(project: Project, judgement: Judgement, edit: Response, parent: Response) -> None:
    """Make the edit a new pending item of its prompt, judged like any other: a pairwise
    project's pair of the edit and the response it improves; a ranking project's item of the
    edit and the judged item's responses, best first by this judgement, up to max_ranked (the
    worst left out). Its key is the one an import of the same responses computes, so the same
    edit again (or an item the project has) makes nothing new. Caller is in the judgement's
    transaction; the pair's meta names the edit's origin."""
    pair = judgement.pair
    prompt_digest = Prompt.objects.values_list("content_hash", flat=True).get(pk=pair.prompt_id)
    if project.comparison == Comparison.RANKING:
        responses = _edit_item(judgement, edit, parent, project.max_ranked)
        if responses is None:
            return
        key = ranking_key(prompt_digest, (r.content_hash for r in responses))
    else:
        responses = [parent, edit]
        key = pair_key(prompt_digest, parent.content_hash, edit.content_hash)
    same = Q(content_key=key) | Q(
        prompt_id=pair.prompt_id, response_a__in=responses[:2], response_b__in=responses[:2]
    )
    if Pair.objects.filter(same, project=project).exists():
        return
    meta = {"edit_of": parent.pk, "edit_judgement": judgement.pk}
    try:
        with transaction.atomic():  # another annotator's same edit may commit first
            item = Pair.objects.create(
                project=project,
                prompt_id=pair.prompt_id,
                response_a=parent,
                response_b=edit,
                content_key=key,
                tiebreak=int(key[:15], 16),
                meta=meta,
            )
            if project.comparison == Comparison.RANKING:
                RankedResponse.objects.bulk_create(
                    RankedResponse(pair=item, response=r, position=i)
                    for i, r in enumerate(responses)
                )
    except IntegrityError:
        return


def _edit_item(
    judgement: Judgement, edit: Response, parent: Response, most: int
) -> list[Response] | None:
    """The improved response, the edit, then the item's others in this judgement's order;
    None where the edit is one of the item's responses already."""
    ranked = {r.pk: r for r in _item_responses(judgement.pair_id)}
    if edit.pk in ranked:
        return None
    order = [rid for group in judgement.ranking or [] for rid in group if rid != parent.pk]
    others = [ranked[rid] for rid in order if rid in ranked]
    return [parent, edit, *others][:most]


def _item_responses(pair_id: int) -> list[Response]:
    return [
        row.response
        for row in RankedResponse.objects.filter(pair_id=pair_id).select_related("response")
    ]


def _stored_fields(
    project: Project,
    assignment: Assignment,
    judged: Judged,
    *,
    assignment_id: int,
    choice: str | None,
    strength: int | None,
    rationale: str,
    duration_ms: int | None,
    rich: RichInput | None,
) -> dict[str, object]:
    """The judgement's columns as stored: canonical choice, options the project does not ask
    for left out (a ranking has no strength: it is no single comparison)."""
    shown = judged.choice
    graded = project.ask_strength and shown in ("left", "right") and judged.ranking is None
    return {
        "choice": canonical_choice(shown, left_is_a=assignment.left_is_a),
        "strength": strength if graded else None,
        "rationale": rationale.strip() if project.ask_rationale != AskRationale.OFF else "",
        "duration_ms": duration_ms,
        **judged.stored(),
    }


def _by_client_id(client_id: str, annotator: User) -> Judgement | None:
    return (
        Judgement.objects.select_related("pair__project", "assignment")
        .filter(client_id=client_id, annotator=annotator)
        .first()
    )


def _repeated(existing: Judgement, submitted: dict) -> Recorded:
    """A retry of the stored judgement returns it; anything else under its client_id is 409."""
    assignment = existing.assignment
    same = assignment is not None and assignment.pk == submitted["assignment_id"]
    if same and assignment is not None:
        project = existing.pair.project
        try:
            judged = _judged(project, assignment, submitted)
        except InvalidJudgement:
            judged = None
        same = (
            judged is not None
            and all(
                getattr(existing, name) == value
                for name, value in _stored_fields(project, assignment, judged, **submitted).items()
            )
            and (existing.edit.text if existing.edit is not None else None) == judged.edit
        )
    if not same:
        raise JudgingConflict(
            "this client_id was used for a different judgement; make a new one", field="client_id"
        )
    return Recorded(existing, created=False)


def _lock_for_judging(
    assignment_id: int, annotator: User, *, next_after: tuple[int | None] | None
) -> Locked | None:
    """Lock the annotator's assignment and its pair (not the project) in one statement.

    The same statement reads what the rest of the request needs (`hot_sql.lock_for_judging`);
    the project comes annotated with the annotator's role and pause, as `permissions.with_role`
    does, so the lease that follows reads neither again.
    """
    locked = lock_for_judging(
        assignment_id,
        annotator.pk,
        superuser=annotator.is_superuser,
        now=timezone.now(),
        next_after=next_after,
    )
    if locked is not None:
        project = locked.assignment.pair.project
        project.my_role = locked.role  # type: ignore[attr-defined]
        project.my_paused_reason = locked.paused_reason  # type: ignore[attr-defined]
        project.role_user_id = annotator.pk  # type: ignore[attr-defined]
    return locked


def _lock_assignment(assignment_id: int, annotator: User) -> Assignment:
    assignment = (
        Assignment.objects.select_for_update().filter(pk=assignment_id, annotator=annotator).first()
    )
    if assignment is None:
        raise LeaseNotFound("no such assignment for this annotator")
    return assignment


def _check_slot(assignment: Assignment, pair: Pair, *, already_judged: bool) -> None:
    """Refuse a second judgement, a closed lease, or an expired slot someone else took.

    Caller holds the Pair row lock.
    """
    if already_judged:  # read with the lock (`_lock_for_judging`)
        raise JudgingConflict("you have already judged this pair")
    if assignment.closed_at is not None:
        raise JudgingConflict(f"this assignment is already closed ({assignment.outcome})")
    # Gold pairs have no slots: every annotator may answer each check once.
    if assignment.expires_at > timezone.now() or pair.gold_label:
        return
    others = (
        Assignment.objects.filter(live_leases(timezone.now()), pair=pair)
        .exclude(pk=assignment.pk)
        .count()
    )
    if pair.judgement_count + others >= target(pair, pair.project):
        raise JudgingConflict("this lease expired and its slot was given to someone else")


def _close(assignment: Assignment, outcome: str) -> None:
    assignment.closed_at = timezone.now()
    assignment.outcome = outcome
    Assignment.objects.filter(pk=assignment.pk).update(
        closed_at=assignment.closed_at, outcome=outcome
    )


def _count(pair: Pair) -> bool:
    """Count the new vote; at the pair's target, settle it (adaptive overlap). True when this
    vote completed the pair.

    Caller holds the Pair row lock.
    """
    was_complete = pair.status == PairStatus.COMPLETE
    pair.judgement_count += 1
    project = pair.project
    if pair.judgement_count >= target(pair, project):
        if settling_reads_votes(project):
            settle_from_votes(pair, project)
        else:  # a fixed overlap is done at its target (saves reading the votes)
            pair.status = PairStatus.COMPLETE
    pair.save(update_fields=SETTLED_FIELDS)
    return pair.status == PairStatus.COMPLETE and not was_complete


def _send_events(
    project: Project, judgement: Judgement, annotator: User, *, completed: bool
) -> None:
    """`judgement.created` (and `pair.completed`) once the judgement's transaction commits."""
    pair = judgement.pair
    send_project_event(
        project,
        "judgement.created",
        {
            "judgement_id": judgement.pk,
            "pair_id": pair.pk,
            "pair_external_id": pair.external_id,
            "annotator": annotator.get_username(),
            "choice": judgement.choice,
            "shown_left": judgement.shown_left,
            "strength": judgement.strength,
            "duration_ms": judgement.duration_ms,
            "gold": bool(pair.gold_label),
            "created_at": judgement.created_at.isoformat(),
            # what the judgement holds beyond a choice, where the project asks for it
            **{
                key: value
                for key, value in (
                    ("ranking", judgement.ranking),
                    ("criteria", judgement.criteria),
                    ("ratings", judgement.ratings),
                    ("edit_id", judgement.edit_id),
                )
                if value is not None
            },
        },
    )
    if completed:
        send_project_event(
            project,
            "pair.completed",
            {
                "pair_id": pair.pk,
                "pair_external_id": pair.external_id,
                "judgements": pair.judgement_count,
            },
        )


def skip_assignment(assignment_id: int, annotator: User) -> Assignment:
    """Close the lease as skipped; the annotator is not offered this pair again."""
    with transaction.atomic():
        assignment = _lock_assignment(assignment_id, annotator)
        if assignment.closed_at is None:
            _close(assignment, Assignment.Outcome.SKIPPED)
    return assignment


def judge_and_lease_next(
    assignment_id: int,
    annotator: User,
    *,
    after: int | None = None,
    choice: str | None = None,
    client_id: str,
    strength: int | None = None,
    rationale: str = "",
    duration_ms: int | None = None,
    ranking: Any = None,
    criteria: Any = None,
    ratings: Any = None,
    edit: str | None = None,
) -> tuple[Recorded, Assignment | None]:
    """Record a judgement and lease the annotator's next pair, in one transaction when it can.

    One commit instead of two: on a busy database the commit's WAL flush is most of a
    judgement's latency. Only a lease that waits for no lock may share the judgement's
    transaction (it holds the judged pair's lock, and waiting for another could deadlock);
    otherwise the judgement commits first and the lease runs in its own transaction. A member
    gets their open lease other than `after`, or a new one; a former or paused member gets none.
    The normal path is six statements and no savepoint: the judgement's four (`_record`), the
    candidate's lock and the lease's insert (`queue.lease_new_pair`).
    """
    rich = _rich(ranking, criteria, ratings, edit)
    submitted = _submitted(assignment_id, choice, strength, rationale, duration_ms, rich)
    try:
        with transaction.atomic():
            recorded, held = _record(
                assignment_id, annotator, client_id, submitted, next_after=(after,)
            )
            if recorded.created:
                project = recorded.judgement.pair.project
                if not _may_lease(project):  # a former member's other lease is not shown again
                    return recorded, None
                if held is not None:
                    return recorded, _open_lease(held)
                try:
                    return recorded, lease_new_pair(annotator, project, timezone.now())
                except AnnotatorPaused:  # the judgement stands; the caller says why
                    return recorded, None
                except LeaseContended:
                    pass  # nothing of the lease was written: the judgement commits alone
    except IntegrityError as error:
        recorded = _repeated_after_race(error, client_id, annotator, submitted)
    return recorded, _lease_for_member(recorded, annotator, after=after)


def _may_lease(project: Project) -> bool:
    """The annotated project (`_lock_for_judging`) still has the annotator as a member who sees
    it, as `permissions.visible_projects` would say, and it takes judgements."""
    return project.my_role is not None and project.deleted_at is None and not project.is_archived


def _open_lease(assignment_id: int) -> Assignment:
    return Assignment.objects.select_related(
        "pair__prompt", "pair__response_a", "pair__response_b"
    ).get(pk=assignment_id)


def _lease_for_member(
    recorded: Recorded, annotator: User, *, after: int | None
) -> Assignment | None:
    # One query for both the membership and the pause (with_role annotates them).
    project = visible_projects(annotator).filter(pk=recorded.judgement.pair.project_id).first()
    if project is None:
        return None
    try:
        return lease_next_pair(annotator, project, after=after)
    except AnnotatorPaused:  # the judgement stands; the caller says why no pair follows
        return None
