"""Generation jobs: plan the samples, run them on workers, finish by pairing them.

All state is in the database. A job's samples are rows made once (keyed by prompt, endpoint,
index and parameter hash); a worker claims one at a time with a conditional UPDATE and a lease,
so two workers never call for the same sample, and a killed worker's sample is claimed again
once its lease passes. Tasks work for GENERATION_TASK_SECONDS and then send their continuation;
beat sends a task again for a running job whose tasks stopped beating (`recover_generations`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from annotate.models import Comparison, Project, Prompt
from annotate.projects.lifecycle import check_not_archived
from generation.calls import EndpointError, chat, effective_params
from generation.models import (
    GenerationJob,
    GenerationStatus,
    JobEndpoint,
    ModelEndpoint,
    Pairing,
    Sample,
    SampleStatus,
)

logger = logging.getLogger(__name__)

# Sample rows made per INSERT when a job is planned.
PLAN_BATCH = 2000
# Tasks sent per job at once: at most this many samples are asked for at a time, within each
# endpoint's own concurrency.
MAX_TASKS_PER_JOB = 8
LIVE = (GenerationStatus.QUEUED, GenerationStatus.RUNNING)
# A task counts its job's samples (progress, and the heartbeat beat reads) at most this often.
PROGRESS_EVERY_S = 1.0


class GenerationInputError(ValueError):
    """A job asked for something impossible; `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def params_hash(endpoint: ModelEndpoint, params: dict[str, Any]) -> str:
    """The identity of what a sample was asked with: the model id and the sampling parameters."""
    body = orjson.dumps({"model": endpoint.model, **params}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def start_generation(
    project: Project,
    user: Any,
    *,
    endpoints: Sequence[ModelEndpoint],
    samples: int,
    params: dict[str, Any] | None = None,
    pairing: str = Pairing.ALL,
    reference: ModelEndpoint | None = None,
    pairs_per_prompt: int = 1,
    on_workers: bool = True,
) -> GenerationJob:
    """Make the job row and send its tasks once it is committed (page, API and command).

    With `on_workers=False` no task is sent: the caller runs the job itself with `run_job`
    (`manage.py generate --wait`), so no worker asks for its samples as well.
    """
    check_not_archived(project)
    if not endpoints:
        raise GenerationInputError("endpoints", "choose at least one endpoint")
    if any(e.project_id != project.pk for e in endpoints):
        raise GenerationInputError("endpoints", "every endpoint must belong to the project")
    ranks = project.comparison == Comparison.RANKING  # the pairing rule is not used there
    if (
        not ranks
        and pairing == Pairing.REFERENCE
        and (reference is None or reference not in endpoints)
    ):
        raise GenerationInputError("reference", "the reference pairing needs one of the endpoints")
    last = Prompt.objects.filter(project=project).aggregate(last=Max("pk"))["last"]
    if last is None:
        raise GenerationInputError("prompts", "the project has no prompts: import some first")
    with transaction.atomic():
        job = GenerationJob.objects.create(
            project=project,
            created_by=user if getattr(user, "pk", None) else None,
            samples_per_prompt=samples,
            params=params or {},
            pairing=pairing,
            reference_endpoint=reference if pairing == Pairing.REFERENCE else None,
            pairs_per_prompt=pairs_per_prompt,
            prompt_max_id=last,
        )
        for endpoint in endpoints:
            sent = effective_params(endpoint, params or {})
            sent.pop("n", None)
            JobEndpoint.objects.create(
                job=job, endpoint=endpoint, params=sent, params_hash=params_hash(endpoint, sent)
            )
        if on_workers:
            _send_tasks(job, list(endpoints))
    return job


def _send_tasks(job: GenerationJob, endpoints: list[ModelEndpoint]) -> None:
    from generation.tasks import run_generation_task

    count = min(sum(e.concurrency for e in endpoints), MAX_TASKS_PER_JOB)
    for _ in range(max(count, 1)):
        run_generation_task.delay_on_commit(job.pk)  # type: ignore[attr-defined]


def job_samples(job: GenerationJob) -> Any:
    """The samples a job covers (some may have been stored by an earlier job)."""
    keys = Q(pk__in=[])
    for je in job.job_endpoints.all():
        keys |= Q(endpoint_id=je.endpoint_id, params_hash=je.params_hash)
    return Sample.objects.filter(
        keys,
        prompt__project_id=job.project_id,
        prompt_id__lte=job.prompt_max_id,
        index__lt=job.samples_per_prompt,
    )


def plan_job(job: GenerationJob) -> None:
    """Make the rows of the job's samples that do not exist yet (idempotent)."""
    prompt_ids = list(
        Prompt.objects.filter(project_id=job.project_id, pk__lte=job.prompt_max_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    batch: list[Sample] = []
    for prompt_id in prompt_ids:
        for je in job.job_endpoints.all():
            for index in range(job.samples_per_prompt):
                batch.append(
                    Sample(
                        prompt_id=prompt_id,
                        endpoint_id=je.endpoint_id,
                        index=index,
                        params_hash=je.params_hash,
                        job=job,
                    )
                )
            if len(batch) >= PLAN_BATCH:
                Sample.objects.bulk_create(batch, ignore_conflicts=True)
                batch.clear()
    Sample.objects.bulk_create(batch, ignore_conflicts=True)
    GenerationJob.objects.filter(pk=job.pk).update(planned=True)
    refresh_progress(job)


def refresh_progress(job: GenerationJob) -> None:
    counts = dict(job_samples(job).values_list("status").annotate(n=Count("pk")))
    GenerationJob.objects.filter(pk=job.pk).update(
        total=sum(counts.values()),
        done=counts.get(SampleStatus.DONE, 0),
        failed=counts.get(SampleStatus.FAILED, 0),
        heartbeat_at=timezone.now(),
    )


def run_job(job_id: int) -> bool:
    """Work on a job for a while; True when work remains for a continuation task."""
    GenerationJob.objects.filter(pk=job_id, status=GenerationStatus.QUEUED).update(
        status=GenerationStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    job = GenerationJob.objects.filter(pk=job_id).first()
    if job is None or job.status != GenerationStatus.RUNNING:
        return False
    if not job.planned:
        plan_job(job)  # idempotent: two tasks planning at once make each row once
    deadline = time.monotonic() + settings.GENERATION_TASK_SECONDS
    endpoints = {je.endpoint_id: je for je in job.job_endpoints.select_related("endpoint")}
    refreshed = time.monotonic()
    while time.monotonic() < deadline:
        if not _still_running(job_id):
            return False
        sample = _claim(job, endpoints)
        if sample is None:
            refresh_progress(job)
            return _finish_if_done(job)
        _generate(sample, endpoints[sample.endpoint_id])
        if time.monotonic() - refreshed >= PROGRESS_EVERY_S:
            refresh_progress(job)  # also the job's heartbeat
            refreshed = time.monotonic()
    refresh_progress(job)
    return True


def _still_running(job_id: int) -> bool:
    return GenerationJob.objects.filter(pk=job_id, status=GenerationStatus.RUNNING).exists()


def _claim(job: GenerationJob, endpoints: dict[int, JobEndpoint]) -> Sample | None:
    """Take the next pending sample (or one whose worker's lease passed) with a lease."""
    now = timezone.now()
    claimable = job_samples(job).filter(
        Q(status=SampleStatus.PENDING) | Q(status=SampleStatus.RUNNING, lease_until__lt=now)
    )
    for _ in range(20):
        candidate = claimable.order_by("prompt_id", "index", "endpoint_id").first()
        if candidate is None:
            return None
        endpoint = endpoints[candidate.endpoint_id].endpoint
        # Room for every attempt with its timeout and the longest backoffs.
        lease = (endpoint.timeout_s + settings.GENERATION_MAX_BACKOFF_SECONDS) * (
            settings.GENERATION_MAX_ATTEMPTS + 1
        )
        if Sample.objects.filter(
            pk=candidate.pk, status=candidate.status, lease_until=candidate.lease_until
        ).update(
            status=SampleStatus.RUNNING,
            lease_until=now + timedelta(seconds=lease),
            attempts=candidate.attempts + 1,
        ):
            candidate.status = SampleStatus.RUNNING
            return candidate
    return None


def _generate(sample: Sample, je: JobEndpoint) -> None:
    """Ask the endpoint for the sample and store the answer or the failure."""
    params = dict(je.params)
    if isinstance(params.get("seed"), int):
        params["seed"] += sample.index  # the samples of one prompt differ, reproducibly
    messages = Prompt.objects.values_list("messages", flat=True).get(pk=sample.prompt_id)
    mine = Sample.objects.filter(pk=sample.pk, status=SampleStatus.RUNNING)
    try:
        result = chat(je.endpoint, messages, **params)
    except EndpointError as error:
        mine.update(
            status=SampleStatus.FAILED,
            error=f"{error.reason}: {error}",
            finished_at=timezone.now(),
            lease_until=None,
        )
        return
    mine.update(
        status=SampleStatus.DONE,
        text=result.text,
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
        latency_ms=result.latency_ms,
        finish_reason=result.finish_reason,
        error="",
        finished_at=timezone.now(),
        lease_until=None,
    )


def _finish_if_done(job: GenerationJob) -> bool:
    """Pair the samples and end the job once none is pending or running; else say wait."""
    open_samples = job_samples(job).filter(status__in=[SampleStatus.PENDING, SampleStatus.RUNNING])
    if open_samples.exists():
        return False  # others hold leases; the last of them finishes (or beat, if they die)
    from generation.pairing import pair_samples

    with transaction.atomic():
        if not GenerationJob.objects.filter(
            pk=job.pk, status=GenerationStatus.RUNNING, finished_at__isnull=True
        ).update(finished_at=timezone.now()):
            return False
        created = pair_samples(job)
        refresh_progress(job)
        GenerationJob.objects.filter(pk=job.pk).update(
            status=GenerationStatus.SUCCEEDED, pairs_created=created
        )
    return False


def cancel_generation(job: GenerationJob) -> None:
    """Stop a queued or running job; its finished samples stay, the rest wait for a resume."""
    GenerationJob.objects.filter(pk=job.pk, status__in=LIVE).update(
        status=GenerationStatus.CANCELLED, finished_at=timezone.now()
    )
    job_samples(job).filter(status=SampleStatus.RUNNING).update(
        status=SampleStatus.PENDING, lease_until=None
    )
    job.refresh_from_db()


def resume_generation(job: GenerationJob) -> None:
    """Run a stopped job again: its failed samples are tried again, stored ones are kept."""
    check_not_archived(job.project)
    with transaction.atomic():
        if (
            not GenerationJob.objects.filter(pk=job.pk)
            .exclude(status__in=LIVE)
            .update(status=GenerationStatus.QUEUED, finished_at=None, error="")
        ):
            return
        job_samples(job).filter(status=SampleStatus.FAILED).update(
            status=SampleStatus.PENDING, attempts=0, error=""
        )
        _send_tasks(job, [je.endpoint for je in job.job_endpoints.select_related("endpoint")])
    job.refresh_from_db()


def recover_generations() -> int:
    """Send tasks again for live jobs whose tasks stopped beating (beat); returns how many."""
    stale = timezone.now() - timedelta(seconds=settings.GENERATION_STALE_SECONDS)
    jobs = GenerationJob.objects.filter(status__in=LIVE).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale)
    )
    count = 0
    for job in jobs:
        with transaction.atomic():
            GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
            _send_tasks(job, [je.endpoint for je in job.job_endpoints.select_related("endpoint")])
        count += 1
    return count


def failures(job: GenerationJob, *, limit: int = 100) -> list[dict[str, Any]]:
    """The failed samples of a job, per prompt: what the page and API show."""
    rows = (
        job_samples(job)
        .filter(status=SampleStatus.FAILED)
        .select_related("endpoint")
        .order_by("prompt_id", "endpoint__name", "index")[:limit]
    )
    return [
        {
            "prompt": s.prompt_id,
            "endpoint": s.endpoint.name,
            "index": s.index,
            "attempts": s.attempts,
            "error": s.error,
        }
        for s in rows
    ]
