"""AI judges: make an endpoint a judge, edit its template, and run it over a project's pairs.

A run asks the judge about each pair twice, once with each response shown first, and stores
every answer (`JudgeVerdict`, parsed strictly, reasoning kept). Once both are in, they make one
`JudgeDecision`: a vote when they agree, `inconsistent` when they differ, `unparsed` when one
did not parse; only votes count anywhere. A verdict is stored once per (judge, pair, order), so
a run that is resumed, redelivered or started again asks nothing twice. All state is in the
database: a run works for GENERATION_TASK_SECONDS and then its task sends its continuation.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from annotate.models import Pair, PairStatus, Project
from annotate.projects.lifecycle import check_not_archived
from generation.calls import EndpointError, chat
from generation.judges_models import (
    Judge,
    JudgeDecision,
    JudgeRun,
    JudgeScope,
    JudgeVerdict,
    Order,
)
from generation.judges_prompt import (
    ORDERS,
    Criterion,
    TemplateInvalid,
    canonical_choice,
    check_template,
    check_user_template,
    combine,
    parse_verdict,
    render_messages,
)
from generation.models import GenerationStatus, ModelEndpoint

logger = logging.getLogger(__name__)

RATER_PREFIX = "judge-"
# Threads calling one judge at once, whatever its endpoint allows: each holds a DB connection.
MAX_THREADS = 16
# Errors kept on a run for the page (the counts cover every failure).
MAX_ERRORS = 100
LIVE = (GenerationStatus.QUEUED, GenerationStatus.RUNNING)
# A running run whose task has not beaten for this long lost its worker (`recover_judge_runs`).
STALE_AFTER = timedelta(minutes=5)


class JudgeInputError(ValueError):
    """A judge or run asked for something impossible; `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def rater_username(endpoint: ModelEndpoint) -> str:
    digest = hashlib.sha256(f"{endpoint.project_id}:{endpoint.pk}".encode()).hexdigest()
    return f"{RATER_PREFIX}{endpoint.project_id}-{digest[:24]}"


def make_judge(endpoint: ModelEndpoint) -> Judge:
    """The endpoint's judge, made with its rater (inactive, no usable password) if new."""
    existing = Judge.objects.filter(endpoint=endpoint).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        rater, _ = get_user_model().objects.get_or_create(
            username=rater_username(endpoint),
            defaults={
                "first_name": endpoint.name[:150],
                "is_active": False,
                "password": make_password(None),
            },
        )
        judge, _ = Judge.objects.get_or_create(
            endpoint=endpoint, defaults={"project_id": endpoint.project_id, "rater": rater}
        )
    return judge


def update_judge(
    judge: Judge,
    *,
    system_template: str | None = None,
    user_template: str | None = None,
    params: dict[str, Any] | None = None,
) -> int:
    """Change the judge's templates or parameters; returns the verdicts this cleared.

    Verdicts asked with another prompt would measure another judge: a change of template or
    parameters clears the judge's verdicts and decisions (its runs are kept as history).
    """
    changes: dict[str, Any] = {}
    try:
        if system_template is not None:
            changes["system_template"] = check_template(system_template, field="system_template")
        if user_template is not None:
            changes["user_template"] = check_user_template(user_template)
    except TemplateInvalid as error:
        raise JudgeInputError(error.field, str(error)) from None
    if params is not None:
        changes["params"] = params
    changed = {k: v for k, v in changes.items() if getattr(judge, k) != v}
    if not changed:
        return 0
    with transaction.atomic():
        if JudgeRun.objects.filter(judge=judge, status__in=LIVE).exists():
            raise JudgeInputError("judge", "a run of this judge is in progress; cancel it first")
        for key, value in changed.items():
            setattr(judge, key, value)
        judge.save(update_fields=list(changed))
        JudgeDecision.objects.filter(judge=judge).delete()
        cleared, _ = JudgeVerdict.objects.filter(judge=judge).delete()
    return cleared


def project_judges(project: Project) -> list[Judge]:
    """The project's judges, each with its `latest` run (or None), in two queries."""
    newest = JudgeRun.objects.filter(judge=OuterRef("pk")).order_by("-pk")
    judges = list(
        Judge.objects.filter(project=project)
        .select_related("endpoint")
        .annotate(latest_id=Subquery(newest.values("pk")[:1]))
    )
    runs = JudgeRun.objects.in_bulk([j.latest_id for j in judges if j.latest_id is not None])
    for judge in judges:
        judge.latest = runs.get(judge.latest_id)  # type: ignore[attr-defined]
    return list[Judge](judges)  # the rows as plain Judges (django-stubs types the annotation)


def pairs_in_scope(judge: Judge, scope: str) -> QuerySet[Pair]:
    """The project's pairs of the scope that the judge has not decided yet, by id."""
    pairs = Pair.objects.filter(project_id=judge.project_id)
    if scope == JudgeScope.PENDING:
        pairs = pairs.filter(status=PairStatus.PENDING)
    elif scope == JudgeScope.COMPLETE:
        pairs = pairs.filter(status=PairStatus.COMPLETE)
    decided = JudgeDecision.objects.filter(judge=judge, pair=OuterRef("pk"))
    return pairs.exclude(Exists(decided)).order_by("pk")


def start_judge_run(
    judge: Judge, user: Any, *, scope: str = JudgeScope.BOTH, on_workers: bool = True
) -> JudgeRun:
    """Make the run row and send its task once it is committed (page, API and command).

    With `on_workers=False` no task is sent: the caller runs it itself with `run_judge`
    (`manage.py judge --wait`), so each question is asked once, not by a worker as well.
    """
    from generation.judge_tasks import run_judge_task

    check_not_archived(judge.project)
    if scope not in JudgeScope.values:
        raise JudgeInputError("scope", f"scope must be one of {', '.join(JudgeScope.values)}")
    with transaction.atomic():
        if JudgeRun.objects.select_for_update().filter(judge=judge, status__in=LIVE).exists():
            raise JudgeInputError("judge", "this judge already has a run in progress")
        run = JudgeRun.objects.create(
            judge=judge,
            scope=scope,
            created_by=user if getattr(user, "pk", None) else None,
            total=pairs_in_scope(judge, scope).count(),
        )
        if on_workers:
            run_judge_task.delay_on_commit(run.pk)  # type: ignore[attr-defined]
    return run


def cancel_judge_run(run: JudgeRun) -> bool:
    """Stop a queued or running run; its verdicts so far are kept. False if it had ended."""
    return bool(
        JudgeRun.objects.filter(pk=run.pk, status__in=LIVE).update(
            status=GenerationStatus.CANCELLED, finished_at=timezone.now()
        )
    )


def _claim(run_id: int) -> JudgeRun | None:
    """The run, marked running with a fresh heartbeat, or None if it is not live."""
    now = timezone.now()
    claimed = JudgeRun.objects.filter(pk=run_id, status__in=LIVE).update(
        status=GenerationStatus.RUNNING, heartbeat_at=now
    )
    if not claimed:
        return None
    run = JudgeRun.objects.select_related("judge__endpoint", "judge__project").get(pk=run_id)
    if run.started_at is None:
        run.started_at = now
        run.save(update_fields=["started_at"])
    return run


@dataclass(frozen=True)
class Call:
    """One question to the judge: a pair in one order, with its rendered messages."""

    pair_id: int
    order: str
    messages: list[dict[str, str]]


def run_judge(run_id: int, *, seconds: float | None = None) -> bool:
    """Work on the run for `seconds` (GENERATION_TASK_SECONDS); True when work remains."""
    run = _claim(run_id)
    if run is None:
        return False
    judge = run.judge
    deadline = time.monotonic() + (settings.GENERATION_TASK_SECONDS if seconds is None else seconds)
    threads = max(1, min(judge.endpoint.concurrency, MAX_THREADS))
    while time.monotonic() < deadline:
        batch = pairs_in_scope(judge, run.scope).filter(pk__gt=run.cursor)
        pairs = list(batch.select_related("prompt", "response_a", "response_b")[: threads * 2])
        if not pairs:
            _finish(run)
            return False
        calls = list(pair_questions(judge, pairs))
        for call, answer in zip(calls, _ask(judge, calls, threads), strict=True):
            _store(run, call, answer)
        for pair in pairs:
            _decide(run, judge, pair.pk)
        run.cursor = pairs[-1].pk
        run.save(update_fields=["cursor"])
        if not _beat(run):
            return False  # cancelled meanwhile
    return True


def pair_questions(judge: Judge, pairs: list[Pair]) -> Iterator[Call]:
    """The questions still to ask about these pairs: each order without a verdict."""
    asked = set(
        JudgeVerdict.objects.filter(judge=judge, pair__in=pairs).values_list("pair_id", "order")
    )
    project = judge.project
    criteria = project_criteria(project)
    for pair in pairs:
        texts = {"ab": (pair.response_a.text, pair.response_b.text)}
        texts["ba"] = texts["ab"][::-1]
        for order in ORDERS:
            if (pair.pk, order) in asked:
                continue
            first, second = texts[order]
            messages = render_messages(
                system_template=judge.system_template,
                user_template=judge.user_template,
                messages=pair.prompt.messages,
                first=first,
                second=second,
                guidelines=project.guidelines,
                criteria=criteria,
            )
            yield Call(pair.pk, order, messages)


def project_criteria(project: Project) -> tuple[Criterion, ...]:
    """The project's named criteria, for the prompt; none where the project defines none."""
    criteria = getattr(project, "criteria", None)
    if not isinstance(criteria, list):
        return ()
    return tuple(
        Criterion(str(c.get("name", "")), str(c.get("guidance", "")))
        for c in criteria
        if isinstance(c, dict) and c.get("name")
    )


def _ask(judge: Judge, calls: list[Call], threads: int) -> list[Any]:
    """Each call's ChatResult, or the EndpointError it failed with; threads up to `threads`."""
    if threads == 1 or len(calls) <= 1:
        return [_one(judge, call) for call in calls]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda call: _threaded(judge, call), calls))


def _one(judge: Judge, call: Call) -> Any:
    try:
        return chat(judge.endpoint, call.messages, **(judge.params or {}))
    except EndpointError as error:
        return error


def _threaded(judge: Judge, call: Call) -> Any:
    try:
        return _one(judge, call)
    finally:
        connection.close()  # this thread's own connection (the limits' queries opened it)


def _store(run: JudgeRun, call: Call, answer: Any) -> None:
    """Keep the answer as a verdict (parsed or not); a failed call is counted on the run."""
    if isinstance(answer, EndpointError):
        _record_failure(run, call, answer)
        return
    parsed = parse_verdict(answer.text)
    JudgeVerdict.objects.bulk_create(
        [
            JudgeVerdict(
                judge=run.judge,
                pair_id=call.pair_id,
                order=call.order,
                shown=parsed.shown,
                choice=canonical_choice(parsed.shown, call.order) if parsed.ok else "",
                parsed_ok=parsed.ok,
                parse_error=parsed.error[:300],
                reasoning=parsed.reasoning,
                text=answer.text,
                raw=answer.raw,
                tokens_in=answer.tokens_in,
                tokens_out=answer.tokens_out,
                latency_ms=answer.latency_ms,
            )
        ],
        ignore_conflicts=True,  # a redelivered task asked the same question: the first stays
    )


def _record_failure(run: JudgeRun, call: Call, error: EndpointError) -> None:
    run.failed += 1
    if len(run.errors) < MAX_ERRORS:
        run.errors.append({"pair": call.pair_id, "order": call.order, "error": str(error)[:500]})
    run.save(update_fields=["failed", "errors"])


def _decide(run: JudgeRun, judge: Judge, pair_id: int) -> None:
    """Combine the pair's two verdicts into a decision, once both are in."""
    verdicts = dict(
        JudgeVerdict.objects.filter(judge=judge, pair_id=pair_id).values_list("order", "choice")
    )
    if set(verdicts) != {Order.AB, Order.BA}:
        return
    outcome, choice = combine(verdicts[Order.AB], verdicts[Order.BA])
    _, created = JudgeDecision.objects.get_or_create(
        judge=judge, pair_id=pair_id, defaults={"outcome": outcome, "choice": choice}
    )
    if created:
        run.done += 1
        counters: dict[str, str] = {"vote": "votes", "inconsistent": "inconsistent"}
        field = counters.get(outcome, "unparsed")
        setattr(run, field, getattr(run, field) + 1)
        run.save(update_fields=["done", field])


def _beat(run: JudgeRun) -> bool:
    """Beat; False when the run was cancelled meanwhile."""
    return bool(
        JudgeRun.objects.filter(pk=run.pk, status=GenerationStatus.RUNNING).update(
            heartbeat_at=timezone.now()
        )
    )


def _finish(run: JudgeRun) -> None:
    """Mark the run done; failed when every call failed. Then let the judges steer the queue."""
    from generation.judges_steering import steer_queue

    failed_all = run.failed > 0 and run.done == 0
    JudgeRun.objects.filter(pk=run.pk, status=GenerationStatus.RUNNING).update(
        status=GenerationStatus.FAILED if failed_all else GenerationStatus.SUCCEEDED,
        finished_at=timezone.now(),
    )
    steer_queue(run.judge.project)


def recover_judge_runs(*, stale_after: timedelta = STALE_AFTER) -> int:
    """Send the task again for running runs whose task stopped beating (beat)."""
    from generation.judge_tasks import run_judge_task

    stale = JudgeRun.objects.filter(
        status=GenerationStatus.RUNNING, heartbeat_at__lt=timezone.now() - stale_after
    ).values_list("pk", flat=True)
    sent = 0
    for run_id in stale:
        run_judge_task.delay(run_id)
        sent += 1
    return sent
