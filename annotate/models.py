"""The human side: projects, prompts, responses, pairs, leases and judgements.

A Pair holds two responses in canonical order (a, b). Annotators see them in a per-assignment
random order (`left_is_a`); judgements are stored in canonical terms plus the side shown left.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class AskRationale(models.TextChoices):
    OFF = "off", "Off"
    OPTIONAL = "optional", "Optional"
    REQUIRED = "required", "Required"


class Acquisition(models.TextChoices):
    RANDOM = "random", "Random"
    UNCERTAINTY = "uncertainty", "Uncertainty (entropy of mean P)"
    DISAGREEMENT = "disagreement", "Disagreement (BALD)"
    THOMPSON = "thompson", "Thompson sampling"


def _new_salt() -> str:
    return secrets.token_hex(16)


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    judgements_per_pair = models.PositiveSmallIntegerField(
        default=1, help_text="Overlap: distinct annotators that judge each pair."
    )
    allow_tie = models.BooleanField(default=True)
    allow_both_bad = models.BooleanField(default=True)
    ask_strength = models.BooleanField(default=False)
    ask_rationale = models.CharField(
        max_length=10, choices=AskRationale.choices, default=AskRationale.OFF
    )
    lease_seconds = models.PositiveIntegerField(default=600)
    # Random by default: bench/active_learning.py found no strategy that beats it with the
    # heads model on ../shared/data (bench/RESULTS.md, "Active learning").
    acquisition = models.CharField(
        max_length=20, choices=Acquisition.choices, default=Acquisition.RANDOM
    )
    retrain_every = models.PositiveIntegerField(
        default=0, help_text="Retrain after this many new judgements (0: never automatically)."
    )
    # A share of leases served in random order when the acquisition is not random, so the served
    # model's accuracy can be measured on pairs it did not choose (rewards/random_slice.py).
    random_slice_share = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of leases drawn at random when the acquisition is not random.",
    )
    promotion_requires_beating_length = models.BooleanField(
        default=False,
        help_text="Serve a new version only if it beats response length alone on validation.",
    )
    # Salts the pseudonymous annotator ids in exports, so they are stable within one project
    # and cannot be joined across projects.
    pseudonym_salt = models.CharField(max_length=32, default=_new_salt, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(judgements_per_pair__gte=1), name="project_overlap_at_least_one"
            ),
            models.CheckConstraint(
                condition=Q(lease_seconds__gte=10), name="project_lease_at_least_10s"
            ),
            models.CheckConstraint(
                condition=Q(random_slice_share__gte=0, random_slice_share__lte=1),
                name="project_random_slice_share_is_a_share",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    ANNOTATOR = "annotator", "Annotator"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    messages = models.JSONField(help_text='A list of {"role", "content"} messages.')
    turn_count = models.PositiveSmallIntegerField(default=1)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="one_prompt_per_content"
            )
        ]

    def __str__(self) -> str:
        return (self.messages[-1]["content"] if self.messages else "")[:60]

    @property
    def is_multi_turn(self) -> bool:
        return self.turn_count > 1


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField(blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "content_hash"], name="one_response_per_content"
            )
        ]

    def __str__(self) -> str:
        return self.text[:60]


class PairStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETE = "complete", "Complete"


class Choice(models.TextChoices):
    A = "a", "A better"
    B = "b", "B better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


class Pair(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pairs")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pairs")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    # Order-independent hash of (prompt, {a, b}): the same two responses in either order are
    # one pair.
    content_key = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=PairStatus.choices, default=PairStatus.PENDING)
    priority = models.FloatField(default=0.0, help_text="Higher is served first.")
    # A fixed pseudo-random rank derived from content_key: breaks priority ties randomly but
    # reproducibly, and lets the index serve the order directly.
    tiebreak = models.BigIntegerField(default=0)
    judgement_count = models.PositiveIntegerField(default=0)
    gold_label = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "prompt", "response_a", "response_b"],
                name="one_pair_per_responses",
            ),
            models.UniqueConstraint(fields=["project", "content_key"], name="one_pair_per_key"),
            models.CheckConstraint(
                condition=~Q(response_a=models.F("response_b")), name="pair_of_two_responses"
            ),
        ]
        indexes = [
            # Serves "highest-priority pending pair of a project" as an ordered index scan.
            models.Index(
                "project",
                models.F("priority").desc(),
                "tiebreak",
                condition=Q(status="pending"),
                name="pair_pending_queue",
            ),
            models.Index(fields=["project", "status"], name="pair_project_status"),
        ]

    def __str__(self) -> str:
        return f"pair {self.pk} of {self.project_id}"


class Assignment(models.Model):
    """A lease on one judging slot of a pair, held by one annotator until it expires."""

    class Outcome(models.TextChoices):
        JUDGED = "judged", "Judged"
        SKIPPED = "skipped", "Skipped"

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    left_is_a = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    random_slice = models.BooleanField(
        default=False, help_text="Leased in random order, not by the model's priority."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["pair", "expires_at"],
                condition=Q(closed_at__isnull=True),
                name="assignment_open_by_pair",
            ),
            models.Index(
                fields=["annotator", "pair"],
                name="assignment_annotator_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} of pair {self.pair_id} to {self.annotator_id}"


class Judgement(models.Model):
    class Source(models.TextChoices):
        HUMAN = "human", "Human"
        IMPORT = "import", "Imported"

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judgements")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="judgements",
    )
    assignment = models.OneToOneField(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="judgement"
    )
    choice = models.CharField(max_length=10, choices=Choice.choices)
    shown_left = models.CharField(
        max_length=1, choices=[("a", "a"), ("b", "b")], blank=True, help_text="Empty if imported."
    )
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    client_id = models.CharField(max_length=100, unique=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.HUMAN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "annotator"],
                condition=Q(annotator__isnull=False),
                name="one_judgement_per_annotator",
            ),
            models.CheckConstraint(
                condition=Q(choice__in=["a", "b", "tie", "both_bad"]), name="judgement_choice"
            ),
            models.CheckConstraint(
                condition=Q(strength__isnull=True) | Q(strength__gte=1, strength__lte=3),
                name="judgement_strength_1_to_3",
            ),
        ]
        indexes = [models.Index(fields=["pair", "choice"], name="judgement_pair_choice")]

    def __str__(self) -> str:
        return f"{self.choice} on pair {self.pair_id}"


class ImportJob(models.Model):
    """An upload imported in the background; progress and the result are shown to admins."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=20, default="auto")
    labels = models.CharField(max_length=20, default="judgements")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    result = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.original_name}"
