"""The human side: projects, prompts, responses, pairs, leases and judgements.

A Pair holds two responses in canonical order (a, b). Annotators see them in a per-assignment
random order (`left_is_a`); judgements are stored in canonical terms plus the side shown left.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AskRationale(models.TextChoices):
    OFF = "off", "Off"
    OPTIONAL = "optional", "Optional"
    REQUIRED = "required", "Required"


class Comparison(models.TextChoices):
    PAIRWISE = "pairwise", "Pairwise: the better of two responses"
    RANKING = "ranking", "Ranking: up to max_ranked responses of one prompt in order"


class Edits(models.TextChoices):
    OFF = "off", "Off"
    OPTIONAL = "optional", "Optional"
    REQUIRED = "required", "Required"


class Acquisition(models.TextChoices):
    RANDOM = "random", "Random"
    UNCERTAINTY = "uncertainty", "Uncertainty (entropy of mean P)"
    DISAGREEMENT = "disagreement", "Disagreement (BALD)"
    THOMPSON = "thompson", "Thompson sampling"
    # Written by the AI judges' runs (generation/judges_steering.py), not by a re-rank.
    JUDGES = "judges", "AI judges disagree (with each other, across the swap, or the model)"


def _new_salt() -> str:
    return secrets.token_hex(16)


# Bounds of numeric settings and fields: the model validators (forms, admin, serializers) and
# the check constraints (everything else) use the same numbers.
MAX_OVERLAP = 100
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 10, 7 * 24 * 3600
MAX_RETRAIN_EVERY = 1_000_000
MAX_DURATION_MS = 7 * 24 * 3600 * 1000
# How many responses one ranking item holds at most (the project's max_ranked lies between).
MIN_RANKED, MAX_RANKED = 3, 8
# Tokens of prompt and response a reward model reads, when a project sets it.
MIN_REWARD_TOKENS, MAX_REWARD_TOKENS = 16, 32_768


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    judgements_per_pair = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_OVERLAP)],
        help_text="Overlap: distinct annotators that judge each pair.",
    )
    allow_tie = models.BooleanField(default=True)
    allow_both_bad = models.BooleanField(default=True)
    ask_strength = models.BooleanField(default=False)
    ask_rationale = models.CharField(
        max_length=10, choices=AskRationale.choices, default=AskRationale.OFF
    )
    lease_seconds = models.PositiveIntegerField(
        default=600,
        validators=[MinValueValidator(MIN_LEASE_SECONDS), MaxValueValidator(MAX_LEASE_SECONDS)],
    )
    # Random by default: with the heads model, no strategy beat random on seven public
    # preference sets (bench/active_learning.py; bench/RESULTS.md, "Active learning").
    acquisition = models.CharField(
        max_length=20, choices=Acquisition.choices, default=Acquisition.RANDOM
    )
    retrain_every = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_RETRAIN_EVERY)],
        help_text="Retrain after this many new judgements (0: never automatically).",
    )
    reward_max_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_REWARD_TOKENS), MaxValueValidator(MAX_REWARD_TOKENS)],
        help_text="Tokens of prompt and response the reward model reads; the prompt is cut "
        "from its start (empty: the site's default, 256; a run's max_length overrides it).",
    )
    leaderboard_for_annotators = models.BooleanField(
        default=True,
        help_text="Annotators may see the model leaderboard (off keeps them blind to models).",
    )
    max_judgements_per_pair = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Adaptive overlap: a pair whose votes disagree gets more, up to this many "
        "(empty: the same as judgements_per_pair).",
    )
    gold_rate = models.FloatField(
        default=0.0, help_text="Share of leases that are hidden gold checks (0: off)."
    )
    gold_min_answers = models.PositiveIntegerField(
        default=10, help_text="Gold answers before an annotator can be paused for accuracy."
    )
    gold_min_accuracy = models.FloatField(
        default=0.7, help_text="Annotators below this gold accuracy are paused."
    )
    gold_from_unanimous = models.BooleanField(
        default=False,
        help_text="Make a pair a gold check when it completes with 3 or more identical votes "
        "(its votes then count toward accuracy, not training).",
    )
    exclude_flagged_from_training = models.BooleanField(
        default=False, help_text="Leave flagged annotators' judgements out of training."
    )
    # Archived: hidden from annotators and read-only (no leases, judgements or imports), still
    # exportable by admins.
    archived_at = models.DateTimeField(null=True, blank=True)
    # Deletion requested: hidden from everyone while a worker removes its rows.
    deleted_at = models.DateTimeField(null=True, blank=True)
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
    # AI judges (generation/): their votes count nowhere unless `judge_votes_count`; pairs on
    # which every judge agrees consistently may need fewer human votes, except a random audit
    # share that gets them all, so the shortcut's error is measured (quality report).
    judge_votes_count = models.BooleanField(
        default=False,
        help_text="Count AI judges' consistent votes beside the humans' in training, exports "
        "and the leaderboard.",
    )
    judge_settled_votes = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_OVERLAP)],
        help_text="Human votes a pair needs when every AI judge agrees on it consistently "
        "(empty: off).",
    )
    judge_audit_share = models.FloatField(
        default=0.2,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of the pairs the judges agree on that still get every human vote.",
    )
    # What a judgement holds (annotate/judging/shapes.py checks the values and the payloads).
    # Fixed once judging starts, so every judgement of a project means the same thing.
    comparison = models.CharField(
        max_length=10,
        choices=Comparison.choices,
        default=Comparison.PAIRWISE,
        help_text="Pairwise (the better of two) or ranking (order several responses of a prompt).",
    )
    max_ranked = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(MIN_RANKED), MaxValueValidator(MAX_RANKED)],
        help_text="Ranking: the most responses of one prompt ranked together (3 to 8).",
    )
    criteria = models.JSONField(
        default=list,
        blank=True,
        help_text='Named criteria judged beside the overall preference: a list of {"name", '
        '"guidance", "required"}.',
    )
    rating_scale = models.JSONField(
        default=list,
        blank=True,
        help_text="Values of an absolute rating of each response, worst first (empty: no rating).",
    )
    edits = models.CharField(
        max_length=10,
        choices=Edits.choices,
        default=Edits.OFF,
        help_text="Annotators improve the better response: off, optional or required.",
    )
    # With edits "required": required only where the better response is rated below this value
    # of the rating scale (empty: always required).
    edit_below = models.JSONField(
        null=True,
        blank=True,
        help_text="Edits required only below this rating of the better response.",
    )
    judge_edits = models.BooleanField(
        default=False,
        help_text="Each edit is judged later, in a pair against the response it improves.",
    )
    # Salts the pseudonymous annotator ids in exports, so they are stable within one project
    # and cannot be joined across projects.
    pseudonym_salt = models.CharField(max_length=32, default=_new_salt, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    members: models.ManyToManyField[User, Membership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )
    # Set on the rows of permissions.with_role (queryset annotations, not columns).
    my_role: str | None
    my_paused_reason: str | None
    role_user_id: int

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
                condition=Q(judgements_per_pair__lte=MAX_OVERLAP), name="project_overlap_bounded"
            ),
            models.CheckConstraint(
                condition=Q(lease_seconds__lte=MAX_LEASE_SECONDS), name="project_lease_bounded"
            ),
            models.CheckConstraint(
                condition=Q(retrain_every__gte=0, retrain_every__lte=MAX_RETRAIN_EVERY),
                name="project_retrain_every_bounded",
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0, gold_rate__lte=1), name="project_gold_rate_0_to_1"
            ),
            models.CheckConstraint(
                condition=Q(gold_min_accuracy__gte=0, gold_min_accuracy__lte=1),
                name="project_gold_accuracy_0_to_1",
            ),
            models.CheckConstraint(
                condition=Q(random_slice_share__gte=0, random_slice_share__lte=1),
                name="project_random_slice_share_is_a_share",
            ),
            models.CheckConstraint(
                condition=Q(judge_audit_share__gte=0, judge_audit_share__lte=1),
                name="project_judge_audit_share_is_a_share",
            ),
            models.CheckConstraint(
                condition=Q(max_ranked__gte=MIN_RANKED, max_ranked__lte=MAX_RANKED),
                name="project_max_ranked_bounded",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def max_overlap(self) -> int:
        """The most votes a pair can get: adaptive overlap's ceiling, never below the minimum."""
        return max(self.judgements_per_pair, self.max_judgements_per_pair or 0)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    ANNOTATOR = "annotator", "Annotator"


class Membership(models.Model):
    # No index of its own: one_membership_per_user leads with project.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)
    # A paused annotator gets no new leases; the reason is shown on their page.
    paused_reason = models.CharField(max_length=300, blank=True)
    # Gold accuracy is judged on answers after the latest reinstatement.
    reinstated_at = models.DateTimeField(null=True, blank=True)
    # The user's judgements in the project (invalidated ones too), kept by database triggers on
    # the judgement table (migration 0011), so every writer (judging, imports, deletes) keeps it
    # true and the progress counter reads it instead of counting.
    judgement_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class Prompt(models.Model):
    # No index of its own: one_prompt_per_content leads with project.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="prompts", db_index=False
    )
    messages = models.JSONField(help_text='A list of {"role", "content"} messages.')
    turn_count = models.PositiveSmallIntegerField(default=1)
    content_hash = models.CharField(max_length=64)
    # What a `prompts` import row said of it (its id and meta), carried to the pairs made from it.
    # Database defaults too: the bulk import writes prompts in SQL that names neither.
    external_id = models.CharField(max_length=200, blank=True, default="", db_default="")
    meta = models.JSONField(default=dict, blank=True, db_default={})
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="one_prompt_per_content"
            )
        ]

    def __str__(self) -> str:
        return (self.messages[-1]["content"] if self.messages else "")[:60]


class Response(models.Model):
    # No index of its own: one_response_per_content leads with prompt.
    prompt = models.ForeignKey(
        Prompt, on_delete=models.CASCADE, related_name="responses", db_index=False
    )
    text = models.TextField(blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by review on an edit found wanting: it leaves the sft export and later pairs.
    invalidated_at = models.DateTimeField(null=True, blank=True)
    # An annotator's edit of another response (`parent`): written by `author` while judging.
    # Indexed only where set (Meta): an imported response writes no entry for either.
    parent = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="edits",
        db_index=False,
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "content_hash"], name="one_response_per_content"
            )
        ]
        indexes = [
            models.Index(
                fields=["parent"], condition=Q(parent__isnull=False), name="response_edits"
            ),
            models.Index(
                fields=["author"], condition=Q(author__isnull=False), name="response_author"
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class ResponseSource(models.Model):
    """A model that wrote a response's text: one text may come from several models.

    `Response.model_name` keeps the first one, for display and for votes that name none.
    """

    # No index of its own: one_source_per_model leads with response.
    response = models.ForeignKey(
        Response, on_delete=models.CASCADE, related_name="sources", db_index=False
    )
    model_name = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "model_name"], name="one_source_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.model_name} wrote response {self.response_id}"


class PairStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETE = "complete", "Complete"


class Choice(models.TextChoices):
    A = "a", "A better"
    B = "b", "B better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


class Pair(models.Model):
    # No index of its own: one_pair_per_key leads with project.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="pairs", db_index=False
    )
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pairs")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    # Order-independent hash of (prompt, {a, b}): the same two responses in either order are
    # one pair.
    content_key = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=PairStatus.choices, default=PairStatus.PENDING)
    # Its priority and reward margin live in PairRank (`pair.rank`), which a re-rank rewrites.
    # A fixed pseudo-random rank derived from content_key: breaks priority ties randomly but
    # reproducibly, and lets the index serve the order directly.
    tiebreak = models.BigIntegerField(default=0)
    judgement_count = models.PositiveIntegerField(default=0)
    # Adaptive overlap: votes wanted beyond the project's minimum because the first disagreed.
    extra_judgements = models.PositiveSmallIntegerField(default=0)
    gold_label = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    # A ranking item's gold ranking (groups of response ids, best first), and gold votes per
    # criterion ({name: a/b/tie/both_bad, or a ranking}); null where there is none.
    gold_ranking = models.JSONField(null=True, blank=True)
    gold_criteria = models.JSONField(null=True, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Fewer human votes than the project's overlap: set where the AI judges agreed on the pair
    # and it is not in their audit share (generation/judges_steering.py); empty: the project's.
    min_votes = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            # content_key hashes the prompt and both texts, so it also keeps one pair per
            # (prompt, response a, response b).
            models.UniqueConstraint(fields=["project", "content_key"], name="one_pair_per_key"),
            models.CheckConstraint(
                condition=~Q(response_a=models.F("response_b")), name="pair_of_two_responses"
            ),
        ]
        indexes = [
            # A random-slice lease's order, which ignores priorities (judging/hot_sql.py); the
            # priority order is PairRank's.
            models.Index(
                "project",
                "tiebreak",
                "id",
                condition=Q(status="pending"),
                name="pair_pending_random",
            ),
            models.Index(fields=["project", "status"], name="pair_project_status"),
            # The gold pairs in their random order (judging/gold.py): an annotator's gold draw
            # reads a few entries, and a pair without gold writes none.
            models.Index(
                "project",
                "tiebreak",
                "id",
                condition=~Q(gold_label=""),
                name="pair_gold_by_tiebreak",
            ),
            # Newest first within one project (the lists' default order), not across them all.
            models.Index("project", models.F("id").desc(), name="pair_by_newest"),
            # The data browser's sorts, read a page at a time by keyset (annotate/browsing.py).
            models.Index(
                "project",
                models.F("judgement_count").desc(),
                models.F("id").desc(),
                name="pair_by_votes",
            ),
        ]

    def __str__(self) -> str:
        return f"pair {self.pk} of {self.project_id}"


class PairRank(models.Model):
    """Where a pair stands in its project's queue, and its reward margin: the values a re-rank
    rewrites, in a narrow table of their own.

    Rewriting a Pair row would add an entry to each of its many indexes; a PairRank row has
    four. Database triggers (migration 0015) add the row with its pair and keep `pending` and
    `tiebreak` equal to the pair's, so no writer of pairs has to remember it.
    """

    # No foreign-key constraint: only the trigger writes these rows, from pairs that exist, and
    # Django deletes them with their pair; a check would cost every imported pair at commit.
    pair = models.OneToOneField(
        Pair,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="rank",
        db_constraint=False,
    )
    # The pair's project, copied so the queue's index can lead with it (a plain column, for the
    # same reason).
    project_id = models.BigIntegerField()
    # status == pending, kept by the triggers.
    pending = models.BooleanField(default=True)
    # Written by the model side: a rank quantile in (0, 1] under the project's acquisition
    # strategy; 0 until a served model has ranked the pair, so unranked pairs come last.
    priority = models.FloatField(default=0.0, help_text="Higher is served first.")
    # The pair's tiebreak, copied for the queue's order.
    tiebreak = models.BigIntegerField(default=0)
    # |reward a - reward b| under the reward model version `margin_version` (its primary key),
    # written with the priorities at each re-rank, so the data browser sorts by it from an index.
    reward_margin = models.FloatField(null=True, blank=True)
    margin_version = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            # Serves "highest-priority pending pair of a project" as an ordered index scan.
            models.Index(
                "project_id",
                models.F("priority").desc(),
                "tiebreak",
                condition=Q(pending=True),
                name="pairrank_queue",
            ),
            # The data browser's priority and margin sorts, read a page at a time by keyset.
            models.Index(
                "project_id",
                models.F("priority").desc(),
                models.F("pair").desc(),
                name="pairrank_by_priority",
            ),
            models.Index(
                fields=["project_id", "margin_version", "reward_margin", "pair"],
                condition=Q(margin_version__isnull=False),
                name="pairrank_by_margin",
            ),
        ]

    def __str__(self) -> str:
        return f"rank of pair {self.pair_id}"


class RankedResponse(models.Model):
    """One response of a ranking item, at its place in the item (0 first, as imported).

    A ranking item is a Pair (so queue, leases, overlap, gold and review treat it as one unit)
    whose response_a and response_b are two of its responses; this table lists all of them.
    """

    # No index of its own: one_ranked_per_position leads with pair.
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="ranked", db_index=False)
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["pair", "position"]
        constraints = [
            models.UniqueConstraint(fields=["pair", "position"], name="one_ranked_per_position"),
            models.UniqueConstraint(fields=["pair", "response"], name="one_ranked_per_response"),
        ]

    def __str__(self) -> str:
        return f"response {self.response_id} at {self.position} of pair {self.pair_id}"


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
    # A ranking item's response ids in the shuffled order shown (a pairwise lease: left_is_a).
    shown_order = models.JSONField(null=True, blank=True)

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
            # An annotator's open leases (the held lease of every `next`), without reading
            # their whole history of closed ones.
            models.Index(
                fields=["annotator", "expires_at"],
                condition=Q(closed_at__isnull=True),
                name="assignment_open_by_annotator",
            ),
            # The members list's "last active": an annotator's newest lease.
            models.Index("annotator", models.F("created_at").desc(), name="assignment_latest"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} of pair {self.pair_id} to {self.annotator_id}"


class JudgementQuerySet(models.QuerySet):
    def valid(self) -> JudgementQuerySet:
        """Judgements not invalidated by review: the ones counts, snapshots and exports use."""
        return self.filter(invalidated_at__isnull=True)


class Judgement(models.Model):
    class Source(models.TextChoices):
        HUMAN = "human", "Human"
        IMPORT = "import", "Imported"

    # No index of its own: judgement_pair_choice leads with pair.
    pair = models.ForeignKey(
        Pair, on_delete=models.CASCADE, related_name="judgements", db_index=False
    )
    # No index of its own: one_judgement_per_client_id leads with annotator (where there is one).
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="judgements",
        db_index=False,
    )
    assignment = models.OneToOneField(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="judgement"
    )
    choice = models.CharField(max_length=10, choices=Choice.choices)
    shown_left = models.CharField(
        max_length=1, choices=[("a", "a"), ("b", "b")], blank=True, help_text="Empty if imported."
    )
    strength = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    rationale = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(MAX_DURATION_MS)]
    )
    # Unique per annotator (and among imports), so one user's ids reveal nothing of another's;
    # the two unique constraints are its indexes.
    client_id = models.CharField(max_length=100)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.HUMAN)
    # The models this vote compared, in the pair's a/b terms, when its source row named them: one
    # text may come from several models, so a pair's responses alone cannot say. Blank: the
    # models the pair's responses were first imported with.
    model_a = models.CharField(max_length=200, blank=True)
    model_b = models.CharField(max_length=200, blank=True)
    # A ranking item's judgement: groups of response ids, best first, ties in one group; its
    # `choice` is what the ranking says of response_a against response_b (annotate/judging/
    # shapes.py), so readers of choices count it as a pairwise vote.
    ranking = models.JSONField(null=True, blank=True)
    # {criterion name: choice in a/b terms, or a ranking}; {response id: rating value}; null
    # when empty. Nullable without a default, so the bulk import's SQL may leave them out and
    # SQLite adds the columns in place (rebuilding the table would break its counter triggers).
    criteria = models.JSONField(null=True, blank=True)
    ratings = models.JSONField(null=True, blank=True)
    # Criteria whose votes review invalidated (a list of names); the rest of the judgement counts.
    invalid_criteria = models.JSONField(null=True, blank=True)
    # The annotator's improvement of the better response: a Response whose parent it is.
    edit = models.ForeignKey(
        Response,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by review (annotate/review/actions.py); an invalid judgement is kept but counts nowhere.
    invalidated_at = models.DateTimeField(null=True, blank=True)
    invalidated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    invalid_reason = models.TextField(blank=True)

    objects = JudgementQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "annotator"],
                condition=Q(annotator__isnull=False),
                name="one_judgement_per_annotator",
            ),
            models.UniqueConstraint(
                fields=["annotator", "client_id"],
                condition=Q(annotator__isnull=False),
                name="one_judgement_per_client_id",
            ),
            models.UniqueConstraint(
                fields=["client_id"], condition=Q(source="import"), name="one_import_per_client_id"
            ),
            models.CheckConstraint(
                condition=Q(choice__in=["a", "b", "tie", "both_bad"]), name="judgement_choice"
            ),
            models.CheckConstraint(
                condition=Q(strength__isnull=True) | Q(strength__gte=1, strength__lte=3),
                name="judgement_strength_1_to_3",
            ),
            models.CheckConstraint(
                condition=Q(duration_ms__isnull=True)
                | Q(duration_ms__gte=0, duration_ms__lte=MAX_DURATION_MS),
                name="judgement_duration_bounded",
            ),
        ]
        indexes = [
            models.Index(fields=["pair", "choice"], name="judgement_pair_choice"),
            # The members list subtracts each member's invalidated votes: few rows, read by index.
            models.Index(
                fields=["annotator"],
                condition=Q(invalidated_at__isnull=False),
                name="judgement_invalidated",
            ),
            # Indexed only where set: an imported vote writes no entry for either.
            models.Index(fields=["edit"], condition=Q(edit__isnull=False), name="judgement_edit"),
            models.Index(
                fields=["invalidated_by"],
                condition=Q(invalidated_by__isnull=False),
                name="judgement_reviewer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.choice} on pair {self.pair_id}"

    @property
    def is_valid(self) -> bool:
        return self.invalidated_at is None


class ReviewEvent(models.Model):
    """The audit trail of review: who invalidated or restored a judgement, when and why."""

    class Action(models.TextChoices):
        INVALIDATED = "invalidated", "Invalidated"
        RESTORED = "restored", "Restored"

    judgement = models.ForeignKey(Judgement, on_delete=models.CASCADE, related_name="reviews")
    action = models.CharField(max_length=12, choices=Action.choices)
    # What was reviewed: "" the whole judgement, "criterion:<name>" one criterion's vote,
    # "edit" the judgement's edit.
    part = models.CharField(max_length=60, blank=True, default="")
    reason = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} judgement {self.judgement_id}"


class Invitation(models.Model):
    """A one-time, expiring link that grants `role` in `project` to whoever redeems it.

    It names an address, not an account: redeeming makes a new account or uses the one the
    holder is logged in as. Only a hash of the token is stored; the link itself is shown once
    to the admin who made it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ANNOTATOR)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations_used",
    )

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.project}"


class JobStatus(models.TextChoices):
    """The lifecycle of every background job (imports here; training, embedding, scoring in
    rewards): queued, then running, then succeeded or failed."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """An upload imported in the background; progress and the result are shown to admins."""

    Status = JobStatus

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=20, default="auto")
    labels = models.CharField(max_length=20, default="judgements")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    result = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    # Share of the file read and staged, then written (annotate/jobs.py); 1.0 when done.
    progress = models.FloatField(default=0.0)
    # Beats while a worker runs the import; an old one means the worker died (annotate/jobs.py).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.original_name}"


class StatisticsSnapshot(models.Model):
    """A statistic of a project (leaderboard, quality report, random-slice tables) computed by a
    worker and served as stored, so no request runs a bootstrap (annotate/statistics.py).

    `variant` is the canonical query that shaped it (criteria, options); `state` is the
    fingerprint of the votes it was computed from (valid count, latest judgement and review),
    `votes_reflected` that count for display. `requested_at` marks a computation queued or
    running, so one request queues it once.
    """

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="statistics_snapshots"
    )
    kind = models.CharField(max_length=30)
    variant = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=200, blank=True)
    votes_reflected = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)
    # The process that computed it (host:pid), so one can tell a worker did.
    computed_by = models.CharField(max_length=200, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    # The valid votes when beat (or the computation) last looked, and when: the "votes now"
    # a reader is told, so no request counts votes.
    votes_seen = models.PositiveIntegerField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    # When a request last read it: variants nobody reads stop being recomputed.
    read_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(null=True, blank=True)
    # Why the last computation gave no payload (too few votes, bad options), shown as is.
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind", "variant"], name="statistics_snapshot_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of project {self.project_id} ({self.variant or 'default'})"
