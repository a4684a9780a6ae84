"""Model endpoints a project calls, generation jobs, and the samples they stored.

A `Sample` is one completion of one prompt by one endpoint: it is keyed by the prompt, the
endpoint, its index among the prompt's samples and a hash of the parameters it was asked with,
so a job that runs again (resumed, redelivered, asked twice) never stores a sample twice.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from annotate.models import Project, Prompt, Response

# Bounds of an endpoint's limits: the serializers and the check constraints use the same numbers.
MAX_CONCURRENCY = 256
MAX_REQUESTS_PER_MINUTE = 100_000
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 0.1, 3600.0
MAX_SAMPLES_PER_PROMPT = 64


class ModelEndpoint(models.Model):
    """An OpenAI-compatible chat-completions server a project admin registered.

    The key is kept encrypted (`generation/keys.py`) or named by an environment variable of the
    workers; neither is ever shown back.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=100)
    base_url = models.CharField(max_length=500, help_text="e.g. http://vllm:8000/v1")
    model = models.CharField(max_length=200, help_text="The model id the server knows.")
    api_key_encrypted = models.TextField(blank=True)
    api_key_env = models.CharField(max_length=100, blank=True)
    params = models.JSONField(
        default=dict, blank=True, help_text="Default sampling: temperature, top_p, max_tokens..."
    )
    concurrency = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(MAX_CONCURRENCY)]
    )
    requests_per_minute = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(MAX_REQUESTS_PER_MINUTE)]
    )
    timeout_s = models.FloatField(
        default=60.0,
        validators=[MinValueValidator(MIN_TIMEOUT_S), MaxValueValidator(MAX_TIMEOUT_S)],
    )
    # The limits' shared state (generation/limits.py): a token bucket for requests_per_minute,
    # the expiry times of the calls in flight for concurrency, and a version that every change
    # bumps with a conditional UPDATE, so worker processes never lose each other's updates.
    bucket_tokens = models.FloatField(default=0.0)
    bucket_at = models.DateTimeField(null=True, blank=True)
    slots = models.JSONField(default=list, blank=True)
    limits_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="one_endpoint_per_name"),
            models.CheckConstraint(
                condition=Q(concurrency__gte=1, concurrency__lte=MAX_CONCURRENCY),
                name="endpoint_concurrency_bounded",
            ),
            models.CheckConstraint(
                condition=Q(
                    requests_per_minute__gte=1, requests_per_minute__lte=MAX_REQUESTS_PER_MINUTE
                ),
                name="endpoint_rpm_bounded",
            ),
            models.CheckConstraint(
                condition=Q(timeout_s__gte=MIN_TIMEOUT_S, timeout_s__lte=MAX_TIMEOUT_S),
                name="endpoint_timeout_bounded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model} at {self.base_url})"

    @property
    def has_key(self) -> bool:
        return bool(self.api_key_encrypted or self.api_key_env)


class Pairing(models.TextChoices):
    ALL = "all", "Every two samples of a prompt"
    REFERENCE = "reference", "Each sample against the reference endpoint's"
    RANDOM = "random", "k random pairs per prompt"


class GenerationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class GenerationJob(models.Model):
    """Ask some endpoints for N samples of each of a project's prompts, then pair them."""

    Status = GenerationStatus

    # No index of its own: generation_job_by_project leads with it.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="generation_jobs", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    samples_per_prompt = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(MAX_SAMPLES_PER_PROMPT)]
    )
    # Sampling parameters over the endpoints' defaults, for this job only.
    params = models.JSONField(default=dict, blank=True)
    pairing = models.CharField(max_length=10, choices=Pairing.choices, default=Pairing.ALL)
    reference_endpoint = models.ForeignKey(
        ModelEndpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pairs_per_prompt = models.PositiveSmallIntegerField(
        default=1, help_text="k of the random pairing."
    )
    # The job covers the project's prompts up to this id: the ones there when it was asked for.
    prompt_max_id = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=GenerationStatus.choices, default=GenerationStatus.QUEUED
    )
    planned = models.BooleanField(default=False, help_text="Its samples' rows exist.")
    # Counts refreshed as samples finish (generation/progress.py).
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    pairs_created = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # The jobs list, newest first by id, a keyset page at a time (generation/api.py).
        indexes = [models.Index(fields=["project", "-id"], name="generation_job_by_project")]

    def __str__(self) -> str:
        return f"generation {self.pk} of {self.project_id}"


class JobEndpoint(models.Model):
    """One endpoint of a job, with the parameters it is asked with and their hash."""

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="job_endpoints")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.CASCADE, related_name="+")
    params = models.JSONField(default=dict)
    params_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "endpoint"], name="one_job_endpoint")]

    def __str__(self) -> str:
        return f"{self.endpoint_id} in job {self.job_id}"


class SampleStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Sample(models.Model):
    """One completion of a prompt by an endpoint, stored once per key."""

    Status = SampleStatus

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="samples")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.CASCADE, related_name="samples")
    index = models.PositiveSmallIntegerField()
    params_hash = models.CharField(max_length=64)
    # The job that first asked for it.
    job = models.ForeignKey(
        GenerationJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="samples"
    )
    status = models.CharField(
        max_length=10, choices=SampleStatus.choices, default=SampleStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # A running sample's lease: past it, its worker is taken for dead and another may claim it.
    lease_until = models.DateTimeField(null=True, blank=True)
    text = models.TextField(blank=True)
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    response = models.ForeignKey(
        Response, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "endpoint", "index", "params_hash"], name="one_sample_per_key"
            )
        ]
        indexes = [
            models.Index(fields=["endpoint", "params_hash", "status"], name="sample_by_status"),
        ]

    def __str__(self) -> str:
        return f"sample {self.index} of prompt {self.prompt_id} by {self.endpoint_id}"
