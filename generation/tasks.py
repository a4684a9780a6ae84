"""Celery tasks of generation: thin wrappers that call generation/jobs.py by id."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def run_generation_task(self: Any, job_id: int) -> None:
    """Work on a job for GENERATION_TASK_SECONDS, then send the continuation if work remains.

    Samples are claimed with a lease, so a redelivered or extra copy only shares the work. The
    continuation goes to the queue this task came from, so a job stays with its workers.
    """
    from generation.jobs import run_job

    if run_job(job_id):
        queue = (self.request.delivery_info or {}).get("routing_key")
        self.apply_async((job_id,), queue=queue) if queue else self.delay(job_id)


@shared_task
def recover_generations_task() -> int:
    """Send tasks again for running jobs whose tasks stopped beating (beat)."""
    from generation.jobs import recover_generations

    return recover_generations()


# The judges' tasks, registered with the app's (workers import this module).
from generation.judge_tasks import recover_judge_runs_task, run_judge_task  # noqa: E402, F401
