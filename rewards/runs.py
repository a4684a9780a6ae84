"""Run lifecycle in the database: request, claim, heartbeat, cancel, finish; promote, activate.

Nothing here loads torch: web requests call these functions, workers do the heavy part.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from annotate.models import Judgement, Project
from annotate.signals import send_project_event
from config.celery import try_send
from rewards.models import Mode, RewardModel, TrainingRun
from rewards.tasks import rerank_project_task, retrain_project_task
from workers.heartbeat import beating as keep_beating

Status = TrainingRun.Status


class RunNotCancellable(Exception):
    """The run has ended, or has already served the version it made."""


class RunNoLongerLive(Exception):
    """The worker's run was ended (cancelled, or failed as stale) while it worked on it."""


def request_retrain(
    project: Project,
    *,
    trigger: str = TrainingRun.Trigger.MANUAL,
    mode: str = Mode.HEADS,
    user: Any = None,
    options: dict[str, Any] | None = None,
) -> tuple[TrainingRun, bool]:
    """Queue a run unless one is live; returns (run, created). Enqueues after commit.

    A live run whose worker stopped beating is failed first, so a dead run is never returned.
    """

    fail_stale_runs(project=project)
    live = TrainingRun.objects.filter(project=project, status__in=[Status.QUEUED, Status.RUNNING])
    existing = live.first()
    if existing is not None:
        return existing, False
    # The judgements present now count as seen by this run even if it fails, so the threshold
    # trigger waits for new ones instead of re-queueing a failing run every beat.
    seen = Judgement.objects.filter(pair__project=project).aggregate(m=Max("id"))["m"] or 0
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                project=project,
                trigger=trigger,
                mode=mode,
                requested_by=user,
                options=options or {},
                last_judgement_id=seen,
            )
            # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
            retrain_project_task.delay_on_commit(run.pk)  # type: ignore[attr-defined]
    except IntegrityError:
        # The one-live-run constraint: a concurrent request created it first.
        return live.get(), False
    return run, True


def claim_run(run_id: int) -> bool:
    """Move a queued run (or one whose worker died) to running; False if someone else has it."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.REWARDS_STALE_RUN_SECONDS)
    claimed = TrainingRun.objects.filter(
        Q(status=Status.QUEUED) | Q(status=Status.RUNNING, heartbeat_at__lt=stale), pk=run_id
    ).update(
        status=Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        # A dead attempt may have served a version; this attempt serves its own (or none).
        model=None,
    )
    return claimed == 1


def report_progress(run_id: int, fraction: float, message: str) -> bool:
    """Record a running run's progress; False when the run is no longer running."""
    updated = TrainingRun.objects.filter(pk=run_id, status=Status.RUNNING).update(
        progress=round(min(max(fraction, 0.0), 1.0), 4),
        message=message[:500],
        heartbeat_at=timezone.now(),
    )
    return updated == 1


def ensure_running(run_id: int) -> None:
    """Raise RunNoLongerLive once the run was cancelled or failed as stale: the worker stops."""
    if not TrainingRun.objects.filter(pk=run_id, status=Status.RUNNING).exists():
        raise RunNoLongerLive(f"run {run_id} was ended while its worker worked on it")


def cancel_run(run: TrainingRun, *, by: Any) -> None:
    """Fail a queued or running run as cancelled by `by`; its worker stops within seconds.

    One conditional update, so a run that ended meanwhile keeps its outcome, and one that has
    already served its version (it is re-ranking the queue) runs to its end: both raise
    RunNotCancellable saying why. `run` is re-read either way. The served model is unchanged.
    """
    cancelled = TrainingRun.objects.filter(
        pk=run.pk, status__in=[Status.QUEUED, Status.RUNNING], model__isnull=True
    ).update(
        status=Status.FAILED,
        error=f"Cancelled by {by.get_username()}",
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    if not cancelled:
        raise RunNotCancellable(_why_not_cancellable(run))
    _send_run_finished([run.pk])


def _why_not_cancellable(run: TrainingRun) -> str:
    if run.is_live:
        version = f"v{run.model.version}" if run.model else "its version"
        return (
            f"Run {run.pk} already serves {version} and ends once the queue is re-ranked; "
            "activate another version to stop serving it."
        )
    return f"Run {run.pk} already {run.status}; only a queued or running run can be cancelled."


def finish_run(run_id: int, status: str, **fields: Any) -> None:
    """End a running run; one already failed as stale stays failed."""
    if TrainingRun.objects.filter(pk=run_id, status=Status.RUNNING).update(
        status=status, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields
    ):
        _send_run_finished([run_id])


def _send_run_finished(run_ids: list[int]) -> None:
    """`run.finished` for each run, once the change that ended it commits."""
    ended = TrainingRun.objects.filter(pk__in=run_ids).exclude(
        status__in=[Status.QUEUED, Status.RUNNING]
    )
    for run in ended.select_related("project", "model"):
        send_project_event(
            run.project,
            "run.finished",
            {
                "run_id": run.pk,
                "status": run.status,
                "trigger": run.trigger,
                "mode": run.mode,
                "model_version": run.model.version if run.model else None,
                "metrics": run.model.metrics if run.model else {},
                "message": run.message,
                "error": run.error[:2000],
            },
        )


def fail_stale_runs(*, project: Project | None = None) -> int:
    """Runs whose worker stopped beating are failed, so the project can train again."""
    stale = timezone.now() - timedelta(seconds=settings.REWARDS_STALE_RUN_SECONDS)
    runs = TrainingRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale)
    if project is not None:
        runs = runs.filter(project=project)
    run_ids = list(runs.values_list("pk", flat=True))
    if not run_ids:
        return 0
    failed = runs.filter(pk__in=run_ids).update(
        status=Status.FAILED,
        error=f"The worker stopped beating for over {settings.REWARDS_STALE_RUN_SECONDS} s "
        "(killed or lost); the active model is unchanged.",
        finished_at=timezone.now(),
    )
    _send_run_finished(run_ids)
    return failed


def promote_model(model: RewardModel, *, note: str = "") -> None:
    """Make `model` the project's served version (caller need not hold locks)."""
    with transaction.atomic():
        # Lock the project row so two promotions of one project serialize.
        Project.objects.select_for_update().filter(pk=model.project_id).first()
        RewardModel.objects.filter(project=model.project_id, is_active=True).update(is_active=False)
        # A new serving period: its re-rank has not happened yet.
        RewardModel.objects.filter(pk=model.pk).update(
            is_active=True,
            promotion_note=note or model.promotion_note,
            reranked_at=None,
            rerank_error="",
            rerank_attempts=0,
        )
    model.is_active = True
    model.promotion_note = note or model.promotion_note
    send_project_event(
        model.project,
        "model.served",
        {
            "model_id": model.pk,
            "version": model.version,
            "mode": model.mode,
            "name": model.name,
            "metrics": model.metrics,
            "note": model.promotion_note,
        },
    )


def promote_run_model(run_id: int, model: RewardModel, *, note: str) -> bool:
    """Serve the version a run made, unless the run was ended meanwhile; True if served.

    The run records its version in the same transaction, and cancel_run refuses a run that has
    one, so a cancel and a promotion never both happen.
    """
    with transaction.atomic():
        if not TrainingRun.objects.filter(pk=run_id, status=Status.RUNNING, model=None).update(
            model=model, heartbeat_at=timezone.now()
        ):
            return False
        promote_model(model, note=note)
    return True


def activate_model(model: RewardModel, *, user: Any) -> None:
    """Serve `model` now (rollback or roll forward); a worker re-ranks the queue with it."""

    with transaction.atomic():
        promote_model(model, note=f"served: activated by {user.get_username()}")
        # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
        rerank_project_task.delay_on_commit(model.project_id)  # type: ignore[attr-defined]


def resend_waiting_runs() -> int:
    """Send the task again for runs queued longer than the stale time.

    Its first send may have failed (the broker was down when the run was requested), or a
    broker without redelivery (the embedded one) lost a message that a killed worker had
    already taken; claiming makes any extra copy a no-op. `heartbeat_at` of a queued run is
    when its task was last sent.
    """

    stale = timezone.now() - timedelta(seconds=settings.REWARDS_STALE_RUN_SECONDS)
    waiting = TrainingRun.objects.filter(status=Status.QUEUED, created_at__lt=stale).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)
    )
    sent = 0
    for run_id in waiting.values_list("pk", flat=True):
        if TrainingRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
            heartbeat_at=timezone.now()
        ):
            sent += try_send(retrain_project_task, run_id)
    return sent


def beating(run_id: int) -> AbstractContextManager[None]:
    """Keep the claimed run's heartbeat fresh while the body runs (snapshot, embed, train)."""
    return keep_beating(
        lambda: TrainingRun.objects.filter(pk=run_id, status=Status.RUNNING).update(
            heartbeat_at=timezone.now()
        ),
        every=settings.REWARDS_RUN_HEARTBEAT_SECONDS,
        name=f"run {run_id}",
    )
