"""The model side: reward-model versions, training runs and per-response scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotate.models import JobStatus, Project, Response

if TYPE_CHECKING:
    from rewards.random_slice import SliceEstimate


class Mode(models.TextChoices):
    HEADS = "heads", "Heads (frozen backbone)"
    FINETUNE = "finetune", "Fine-tune"
    EXTERNAL = "external", "External (uploaded scores)"


class RewardModelQuerySet(models.QuerySet["RewardModel"]):
    def served(self, project: Project | int) -> RewardModel | None:
        """The project's served version (given the project or its id), or None."""
        project_id = project if isinstance(project, int) else project.pk
        return self.filter(project_id=project_id, is_active=True).first()


class RewardModel(models.Model):
    """One trained version of a project's reward model."""

    # No index of its own: one_version_number (project, version) serves lookups by project.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="reward_models", db_index=False
    )
    version = models.PositiveIntegerField()
    mode = models.CharField(max_length=10, choices=Mode.choices)
    name = models.CharField(max_length=200, blank=True, help_text="an external model's name")
    backbone = models.CharField(max_length=500)
    config = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, help_text="accuracy, log_loss, ece, n on validation")
    baseline = models.JSONField(
        default=dict, blank=True, help_text="against a length-only model on the same pairs"
    )
    label_value = models.JSONField(
        default=dict, blank=True, help_text="model-chosen vs random labels, same count, same test"
    )
    reward_stats = models.JSONField(
        default=dict,
        blank=True,
        help_text="mean, std, n of its rewards over the project's responses",
    )
    artifact = models.FileField(upload_to="reward-models/", blank=True)
    judgements = models.PositiveIntegerField(default=0, help_text="judgements trained on")
    last_judgement_id = models.BigIntegerField(default=0)
    training_seconds = models.FloatField(default=0.0)
    trained_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=False)
    promotion_note = models.CharField(max_length=500, blank=True)
    # The queue's re-rank after this version was served: when it last succeeded, the error of
    # the last failed attempt (cleared on success), and how many attempts were made.
    reranked_at = models.DateTimeField(null=True, blank=True)
    rerank_error = models.TextField(blank=True)
    rerank_attempts = models.PositiveSmallIntegerField(default=0)

    objects = RewardModelQuerySet.as_manager()
    # Set by overview.models_overview on the versions it lists (not a column).
    slice_estimate: SliceEstimate | None

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="one_version_number"),
            models.UniqueConstraint(
                fields=["project"], condition=Q(is_active=True), name="one_active_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug} v{self.version}"

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("accuracy")


class TrainingRun(models.Model):
    Status = JobStatus

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        THRESHOLD = "threshold", "New judgements"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.HEADS)
    options = models.JSONField(default=dict, blank=True, help_text="TrainConfig overrides")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_judgement_id = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    model = models.ForeignKey(
        RewardModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one live run per project, enforced by the database (not by a worker).
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status__in=["queued", "running"]),
                name="one_live_run_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.project.slug} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class ResponseScore(models.Model):
    """A response's reward under one model version: ensemble mean, std and every member."""

    # No index of its own: one_score_per_model (response, model) serves lookups by response.
    response = models.ForeignKey(
        Response, on_delete=models.CASCADE, related_name="scores", db_index=False
    )
    model = models.ForeignKey(RewardModel, on_delete=models.CASCADE, related_name="scores")
    mean = models.FloatField()
    std = models.FloatField()
    members = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "model"], name="one_score_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.mean:.3f} for response {self.response_id} by {self.model}"


class EmbeddingRun(models.Model):
    """Background embedding of a project's responses into the cache, ahead of retraining."""

    Status = JobStatus

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="embedding_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    total = models.PositiveIntegerField(default=0)
    embedded = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"embedding run {self.pk} of {self.project.slug}"


class ScoreRequest(models.Model):
    """A best-of-n scoring call, answered by a worker so web processes never load torch."""

    Status = JobStatus

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(RewardModel, on_delete=models.CASCADE, related_name="+")
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    result = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"score request {self.pk}"
