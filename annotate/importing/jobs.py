"""Background imports: the ImportJob row records progress, the result or the errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from annotate.formats import ImportFormatError, file_type_of
from annotate.importing.pipeline import import_file
from annotate.importing.summary import ImportSummary
from annotate.models import ImportJob
from annotate.projects.counts import request_recount
from annotate.signals import send_project_event
from annotate.tasks import import_file_task, index_texts_task
from config.celery import try_send
from config.storage import local_copy
from workers.heartbeat import beating

logger = logging.getLogger(__name__)


def claim_import_job(job_id: int) -> bool:
    """Move a queued job to running; False when another worker already has it."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, heartbeat_at=timezone.now()
    )
    return claimed == 1


def recover_stale_imports() -> int:
    """Queue again the running imports whose worker stopped beating; return how many.

    A killed worker's import wrote nothing (its transaction died with it) or everything, and a
    re-import adds nothing twice, so running it again is safe. Its message may come back too
    (acks_late); claiming lets only one copy run.
    """
    stale = timezone.now() - timedelta(seconds=settings.IMPORT_STALE_SECONDS)
    silent = ImportJob.objects.filter(status=ImportJob.Status.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale)
    )
    queued = 0
    for job_id in silent.values_list("pk", flat=True):
        # Only if it is still silent: the update re-checks under the row lock. A queued job's
        # heartbeat_at is when its task was last sent (resend_waiting_imports reads it).
        if silent.filter(pk=job_id).update(
            status=ImportJob.Status.QUEUED, progress=0.0, heartbeat_at=timezone.now()
        ):
            logger.warning("import job %s lost its worker; queued again", job_id)
            try_send(import_file_task, job_id)
            queued += 1
    return queued


def resend_waiting_imports() -> int:
    """Send the task again for imports queued longer than IMPORT_RESEND_SECONDS; how many.

    Its first send may have failed (the broker was down when the upload was committed), or a
    broker without redelivery (the embedded one) lost the message with a killed worker.
    Claiming makes any extra copy a no-op. `heartbeat_at` of a queued job is when its task was
    last sent (null: at upload).
    """
    stale = timezone.now() - timedelta(seconds=settings.IMPORT_RESEND_SECONDS)
    waiting = ImportJob.objects.filter(status=ImportJob.Status.QUEUED, created_at__lt=stale).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)
    )
    sent = 0
    for job_id in waiting.values_list("pk", flat=True):
        if waiting.filter(pk=job_id).update(heartbeat_at=timezone.now()):
            logger.warning("import job %s still queued; its task is sent again", job_id)
            sent += try_send(import_file_task, job_id)
    return sent


def run_import_job(job_id: int) -> None:
    """Import the uploaded file of a claimed job and record the outcome on the job."""
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    try:
        with beating(
            lambda: ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
                heartbeat_at=timezone.now()
            ),
            every=settings.IMPORT_HEARTBEAT_SECONDS,
            name=f"import job {job_id}",
        ):
            summary = _import(job)
    except ImportFormatError as exc:
        _discard_upload(job)
        _finish(
            job_id,
            ImportJob.Status.FAILED,
            errors=[str(e) for e in exc.errors],
            result={"invalid_rows": exc.total},
        )
        return
    except Exception:
        logger.exception("import job %s failed", job_id)
        _discard_upload(job)
        _finish(
            job_id,
            ImportJob.Status.FAILED,
            errors=["the import failed on the server (logged); nothing was imported"],
        )
        raise
    _finish(job_id, ImportJob.Status.SUCCEEDED, result=summary.as_dict(), progress=1.0)
    request_recount(job.project)
    if summary.prompts_created or summary.responses_created:
        # Search parses the new texts itself until a worker stores their documents.
        index_texts_task.delay_on_commit()  # type: ignore[attr-defined]


def _import(job: ImportJob) -> ImportSummary:
    # The upload is in the default storage: on this disk, or object storage the web wrote to.
    with local_copy(job.file, temp_dir=settings.FILE_UPLOAD_TEMP_DIR) as path:
        return import_file(
            job.project,
            path,
            fmt=job.format,
            labels=job.labels,
            file_type=file_type_of(job.original_name),
            progress=_job_progress(job.pk),
        )


def _discard_upload(job: ImportJob) -> None:
    """A failed import keeps its errors, not the file (nothing from it was stored)."""
    job.file.delete(save=False)
    ImportJob.objects.filter(pk=job.pk).update(file="")


def _job_progress(job_id: int) -> Callable[[float], None]:
    """Record progress on the job while the file is read and staged.

    Reading writes only temporary tables, outside any transaction, so the job page sees each
    update at once. The final INSERTs run in one transaction; updates made inside it would
    only show at commit (and on SQLite would wait for the write lock), so they are skipped.
    """

    def report(fraction: float) -> None:
        if not connection.in_atomic_block:
            ImportJob.objects.filter(pk=job_id).update(progress=round(fraction, 3))

    return report


def _finish(
    job_id: int,
    status: str,
    *,
    errors: list[str] | None = None,
    result: dict | None = None,
    progress: float | None = None,
) -> None:
    done = {} if progress is None else {"progress": progress}
    ImportJob.objects.filter(pk=job_id).update(
        **done,
        status=status,
        errors=errors or [],
        result=result or {},
        finished_at=timezone.now(),
    )
    finished = ImportJob.objects.select_related("project").get(pk=job_id)
    failed = status == ImportJob.Status.FAILED
    send_project_event(
        finished.project,
        "import.failed" if failed else "import.finished",
        {
            "job_id": job_id,
            "file": finished.original_name,
            "status": status,
            "result": result or {},
            "errors": (errors or [])[:100],
        },
    )
