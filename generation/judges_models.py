"""AI judges: an endpoint that votes on pairs, its verdicts in both orders, and its decisions.

A judge is a rater that cannot log in (an inactive user with an unusable password, never a
project member), so it is never leased a pair and never sees the annotation pages. Its votes live
here, not among the humans' judgements: the queue, overlap, training, exports and the leaderboard
read them only through `annotate.signals.judge_votes_wanted`, and only where the project says.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotate.models import Pair, Project
from annotate.signals import judge_votes_wanted
from generation.judges_prompt import DEFAULT_SYSTEM_TEMPLATE, DEFAULT_USER_TEMPLATE
from generation.models import GenerationStatus, ModelEndpoint


def default_judge_params() -> dict[str, float | int]:
    """Greedy decoding, as MT-Bench judges with; the endpoint's other defaults still apply."""
    return {"temperature": 0.0}


class Judge(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judges")
    endpoint = models.OneToOneField(ModelEndpoint, on_delete=models.CASCADE, related_name="judge")
    rater = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judge"
    )
    system_template = models.TextField(default=DEFAULT_SYSTEM_TEMPLATE)
    user_template = models.TextField(default=DEFAULT_USER_TEMPLATE)
    params = models.JSONField(default=default_judge_params, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"judge {self.endpoint.name}"


class JudgeScope(models.TextChoices):
    PENDING = "pending", "Pending pairs"
    COMPLETE = "complete", "Completed pairs (to measure the judge)"
    BOTH = "both", "Both"


class JudgeRun(models.Model):
    """One pass of a judge over the pairs of a scope that it has not decided yet."""

    Status = GenerationStatus

    # No index of its own: judge_run_by_judge leads with it.
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="runs", db_index=False)
    scope = models.CharField(max_length=10, choices=JudgeScope.choices, default=JudgeScope.BOTH)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=GenerationStatus.choices, default=GenerationStatus.QUEUED
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    votes = models.PositiveIntegerField(default=0)
    inconsistent = models.PositiveIntegerField(default=0)
    unparsed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0, help_text="Calls that failed for good.")
    errors = models.JSONField(default=list, blank=True)
    # One pass by pair id: pairs up to here were asked about (a failed call is retried by the
    # next run, not again by this one).
    cursor = models.BigIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # A judge's runs newest first by id, a keyset page at a time (judges_api.py).
        indexes = [models.Index(fields=["judge", "-id"], name="judge_run_by_judge")]

    def __str__(self) -> str:
        return f"judge run {self.pk} ({self.status})"


class Order(models.TextChoices):
    AB = "ab", "a shown first"
    BA = "ba", "b shown first"


class JudgeVerdict(models.Model):
    """One answer of a judge about one pair in one order, parsed or not, reasoning kept."""

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="verdicts")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="+")
    order = models.CharField(max_length=2, choices=Order.choices)
    # In the judge's terms ("A", "B", "C" for a tie) and in the pair's ("a", "b", "tie");
    # both empty when the answer did not parse.
    shown = models.CharField(max_length=1, blank=True)
    choice = models.CharField(max_length=5, blank=True)
    parsed_ok = models.BooleanField(default=False)
    parse_error = models.CharField(max_length=300, blank=True)
    reasoning = models.TextField(blank=True)
    text = models.TextField(blank=True, help_text="The reply as the judge wrote it.")
    raw = models.JSONField(default=dict, blank=True)
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "pair", "order"], name="one_verdict_per_order")
        ]

    def __str__(self) -> str:
        return f"{self.shown or 'unparsed'} on pair {self.pair_id} ({self.order})"


class Outcome(models.TextChoices):
    VOTE = "vote", "Vote (consistent across the swap)"
    INCONSISTENT = "inconsistent", "Inconsistent across the swap (no vote)"
    UNPARSED = "unparsed", "A verdict did not parse (no vote)"


class JudgeDecision(models.Model):
    """A judge's two verdicts on a pair, combined: a vote only when they agree."""

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="decisions")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    choice = models.CharField(max_length=5, blank=True, help_text="a, b or tie; votes only.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["judge", "pair"], name="one_decision_per_pair"),
            models.CheckConstraint(
                condition=Q(outcome="vote", choice__in=["a", "b", "tie"])
                | (~Q(outcome="vote") & Q(choice="")),
                name="decision_choice_only_on_votes",
            ),
        ]
        indexes = [models.Index(fields=["judge", "outcome"], name="decision_by_outcome")]

    def __str__(self) -> str:
        return f"{self.outcome} {self.choice} on pair {self.pair_id}"


def _answer_judge_votes(sender: Any, project: Project, **kwargs: Any) -> Any:
    from generation.judges_votes import project_judge_votes

    return project_judge_votes(project)


# Connected where the models load, so every process that has the tables answers the signal.
judge_votes_wanted.connect(_answer_judge_votes, dispatch_uid="generation.judge_votes")
