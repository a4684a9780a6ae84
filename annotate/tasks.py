"""Celery tasks of the annotation side: thin wrappers that call domain functions by id."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True)
def import_file_task(job_id: int) -> None:
    """Run an uploaded import; claiming makes a redelivered message a no-op."""
    from annotate.importing.jobs import claim_import_job, run_import_job

    if claim_import_job(job_id):
        run_import_job(job_id)


@shared_task
def recover_imports_task() -> int:
    """Queue again the imports whose worker stopped beating; resend those nobody took (beat)."""
    from annotate.importing.jobs import recover_stale_imports, resend_waiting_imports

    return recover_stale_imports() + resend_waiting_imports()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def delete_project_task(project_id: int) -> None:
    """Delete a project marked for deletion; a redelivered message continues where it stopped."""
    from annotate.projects.lifecycle import purge_project

    purge_project(project_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def compute_statistics_task(snapshot_id: int) -> None:
    """Compute one stored statistic (leaderboard, quality report, random slice)."""
    from annotate.statistics import compute_snapshot

    compute_snapshot(snapshot_id)


@shared_task
def refresh_statistics_task() -> int:
    """Queue the stored statistics read lately whose votes changed (beat)."""
    from annotate.statistics import refresh_snapshots

    return refresh_snapshots()


@shared_task
def index_texts_task() -> int:
    """Fill the search documents of texts written since the last run (after imports; beat)."""
    from annotate.review.text_index import index_texts

    return index_texts()
