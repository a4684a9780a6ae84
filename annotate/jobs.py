"""Background imports: the ImportJob row records progress, the result or the errors."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection
from django.db.models import F
from django.utils import timezone

from annotate.formats import ImportFormatError, file_type_of
from annotate.importing import import_file
from annotate.models import ImportJob

logger = logging.getLogger(__name__)


def claim_import_job(job_id: int) -> bool:
    """Move a queued job to running; False when another worker already has it."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING
    )
    return claimed == 1


def run_import_job(job_id: int) -> None:
    """Import the uploaded file of a claimed job and record the outcome on the job."""
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    try:
        summary = import_file(
            job.project,
            job.file.path,
            fmt=job.format,
            labels=job.labels,
            file_type=file_type_of(job.original_name),
            progress=_job_progress(job_id),
        )
    except ImportFormatError as exc:
        _finish(
            job_id,
            ImportJob.Status.FAILED,
            errors=[str(e) for e in exc.errors],
            result={"invalid_rows": exc.total},
        )
        return
    except Exception as exc:
        logger.exception("import job %s failed", job_id)
        _finish(job_id, ImportJob.Status.FAILED, errors=[f"{type(exc).__name__}: {exc}"])
        raise
    _finish(job_id, ImportJob.Status.SUCCEEDED, result=summary.as_dict())


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
    job_id: int, status: str, *, errors: list[str] | None = None, result: dict | None = None
) -> None:
    ImportJob.objects.filter(pk=job_id).update(
        status=status,
        errors=errors or [],
        result=result or {},
        progress=F("progress") if status == ImportJob.Status.FAILED else 1.0,
        finished_at=timezone.now(),
    )
