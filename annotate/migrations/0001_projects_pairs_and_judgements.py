"""Projects and their members, prompts, responses, pairs, leases, judgements and imports.

An import job has a status and no progress yet; 0004 brings progress, with a heartbeat.
"""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import annotate.models


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("annotate", "0001_initial"),
        ("annotate", "0002_default_acquisition_random"),
        ("annotate", "0003_i9_one_job_status"),
        ("annotate", "0003_i10_bounds_and_client_ids"),
        ("annotate", "0003_i12_leaderboard_for_annotators"),
        ("annotate", "0003_i14_promotion_requires_beating_length"),
        ("annotate", "0004_i14_random_slice"),
        ("annotate", "0004_merge_i9_i12"),
        ("annotate", "0005_merge_i10"),
    ]

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Pair",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("content_key", models.CharField(max_length=64)),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "Pending"), ("complete", "Complete")],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("priority", models.FloatField(default=0.0, help_text="Higher is served first.")),
                ("tiebreak", models.BigIntegerField(default=0)),
                ("judgement_count", models.PositiveIntegerField(default=0)),
                (
                    "gold_label",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("a", "A better"),
                            ("b", "B better"),
                            ("tie", "Tie"),
                            ("both_bad", "Both bad"),
                        ],
                        max_length=10,
                    ),
                ),
                ("external_id", models.CharField(blank=True, max_length=200)),
                ("meta", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.CreateModel(
            name="Assignment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("left_is_a", models.BooleanField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "outcome",
                    models.CharField(
                        blank=True,
                        choices=[("judged", "Judged"), ("skipped", "Skipped")],
                        max_length=10,
                    ),
                ),
                (
                    "random_slice",
                    models.BooleanField(
                        default=False,
                        help_text="Leased in random order, not by the model's priority.",
                    ),
                ),
                (
                    "annotator",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "pair",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to="annotate.pair",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Membership",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "role",
                    models.CharField(
                        choices=[("admin", "Admin"), ("annotator", "Annotator")],
                        default="annotator",
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Project",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                ("slug", models.SlugField(max_length=100, unique=True)),
                (
                    "guidelines",
                    models.TextField(blank=True, help_text="Markdown shown to annotators."),
                ),
                (
                    "judgements_per_pair",
                    models.PositiveSmallIntegerField(
                        default=1,
                        help_text="Overlap: distinct annotators that judge each pair.",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(100),
                        ],
                    ),
                ),
                ("allow_tie", models.BooleanField(default=True)),
                ("allow_both_bad", models.BooleanField(default=True)),
                ("ask_strength", models.BooleanField(default=False)),
                (
                    "ask_rationale",
                    models.CharField(
                        choices=[
                            ("off", "Off"),
                            ("optional", "Optional"),
                            ("required", "Required"),
                        ],
                        default="off",
                        max_length=10,
                    ),
                ),
                (
                    "lease_seconds",
                    models.PositiveIntegerField(
                        default=600,
                        validators=[
                            django.core.validators.MinValueValidator(10),
                            django.core.validators.MaxValueValidator(604800),
                        ],
                    ),
                ),
                (
                    "acquisition",
                    models.CharField(
                        choices=[
                            ("random", "Random"),
                            ("uncertainty", "Uncertainty (entropy of mean P)"),
                            ("disagreement", "Disagreement (BALD)"),
                            ("thompson", "Thompson sampling"),
                        ],
                        default="random",
                        max_length=20,
                    ),
                ),
                (
                    "retrain_every",
                    models.PositiveIntegerField(
                        default=0,
                        help_text=(
                            "Retrain after this many new judgements (0: never automatically)."
                        ),
                        validators=[django.core.validators.MaxValueValidator(1000000)],
                    ),
                ),
                (
                    "pseudonym_salt",
                    models.CharField(
                        default=annotate.models._new_salt, editable=False, max_length=32
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "leaderboard_for_annotators",
                    models.BooleanField(
                        default=True,
                        help_text=(
                            "Annotators may see the model leaderboard (off keeps them blind to "
                            "models)."
                        ),
                    ),
                ),
                (
                    "promotion_requires_beating_length",
                    models.BooleanField(
                        default=False,
                        help_text=(
                            "Serve a new version only if it beats response length alone on "
                            "validation."
                        ),
                    ),
                ),
                (
                    "random_slice_share",
                    models.FloatField(
                        default=0.1,
                        help_text=(
                            "Share of leases drawn at random when the acquisition is not random."
                        ),
                        validators=[
                            django.core.validators.MinValueValidator(0.0),
                            django.core.validators.MaxValueValidator(1.0),
                        ],
                    ),
                ),
                (
                    "members",
                    models.ManyToManyField(
                        related_name="projects",
                        through="annotate.Membership",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.AddField(
            model_name="pair",
            name="project",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="pairs",
                to="annotate.project",
            ),
        ),
        migrations.AddField(
            model_name="membership",
            name="project",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="memberships",
                to="annotate.project",
            ),
        ),
        migrations.CreateModel(
            name="ImportJob",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("file", models.FileField(upload_to="imports/%Y/%m/")),
                ("original_name", models.CharField(max_length=255)),
                ("format", models.CharField(default="auto", max_length=20)),
                ("labels", models.CharField(default="judgements", max_length=20)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                ("result", models.JSONField(blank=True, default=dict)),
                ("errors", models.JSONField(blank=True, default=list)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="imports",
                        to="annotate.project",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="Prompt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("messages", models.JSONField(help_text='A list of {"role", "content"} messages.')),
                ("turn_count", models.PositiveSmallIntegerField(default=1)),
                ("content_hash", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="prompts",
                        to="annotate.project",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="pair",
            name="prompt",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="pairs",
                to="annotate.prompt",
            ),
        ),
        migrations.CreateModel(
            name="Response",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("text", models.TextField(blank=True)),
                ("model_name", models.CharField(blank=True, max_length=200)),
                ("content_hash", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "prompt",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="responses",
                        to="annotate.prompt",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="pair",
            name="response_a",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="annotate.response",
            ),
        ),
        migrations.AddField(
            model_name="pair",
            name="response_b",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="annotate.response",
            ),
        ),
        migrations.CreateModel(
            name="Judgement",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "choice",
                    models.CharField(
                        choices=[
                            ("a", "A better"),
                            ("b", "B better"),
                            ("tie", "Tie"),
                            ("both_bad", "Both bad"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "shown_left",
                    models.CharField(
                        blank=True,
                        choices=[("a", "a"), ("b", "b")],
                        help_text="Empty if imported.",
                        max_length=1,
                    ),
                ),
                (
                    "strength",
                    models.PositiveSmallIntegerField(
                        blank=True,
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(3),
                        ],
                    ),
                ),
                ("rationale", models.TextField(blank=True)),
                (
                    "duration_ms",
                    models.PositiveIntegerField(
                        blank=True,
                        null=True,
                        validators=[django.core.validators.MaxValueValidator(604800000)],
                    ),
                ),
                ("client_id", models.CharField(db_index=True, max_length=100)),
                (
                    "source",
                    models.CharField(
                        choices=[("human", "Human"), ("import", "Imported")],
                        default="human",
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "annotator",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="judgements",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "assignment",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="judgement",
                        to="annotate.assignment",
                    ),
                ),
                (
                    "pair",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="judgements",
                        to="annotate.pair",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["pair", "choice"], name="judgement_pair_choice")],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("annotator__isnull", False)),
                        fields=("pair", "annotator"),
                        name="one_judgement_per_annotator",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("choice__in", ["a", "b", "tie", "both_bad"])),
                        name="judgement_choice",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("strength__isnull", True),
                            models.Q(("strength__gte", 1), ("strength__lte", 3)),
                            _connector="OR",
                        ),
                        name="judgement_strength_1_to_3",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("annotator__isnull", False)),
                        fields=("annotator", "client_id"),
                        name="one_judgement_per_client_id",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("source", "import")),
                        fields=("client_id",),
                        name="one_import_per_client_id",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("duration_ms__isnull", True),
                            models.Q(("duration_ms__gte", 0), ("duration_ms__lte", 604800000)),
                            _connector="OR",
                        ),
                        name="judgement_duration_bounded",
                    ),
                ],
            },
        ),
        migrations.AddIndex(
            model_name="assignment",
            index=models.Index(
                condition=models.Q(("closed_at__isnull", True)),
                fields=["pair", "expires_at"],
                name="assignment_open_by_pair",
            ),
        ),
        migrations.AddIndex(
            model_name="assignment",
            index=models.Index(fields=["annotator", "pair"], name="assignment_annotator_pair"),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.CheckConstraint(
                condition=models.Q(("judgements_per_pair__gte", 1)),
                name="project_overlap_at_least_one",
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.CheckConstraint(
                condition=models.Q(("lease_seconds__gte", 10)), name="project_lease_at_least_10s"
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.CheckConstraint(
                condition=models.Q(("judgements_per_pair__lte", 100)),
                name="project_overlap_bounded",
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.CheckConstraint(
                condition=models.Q(("lease_seconds__lte", 604800)), name="project_lease_bounded"
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.CheckConstraint(
                condition=models.Q(("retrain_every__gte", 0), ("retrain_every__lte", 1000000)),
                name="project_retrain_every_bounded",
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.CheckConstraint(
                condition=models.Q(("random_slice_share__gte", 0), ("random_slice_share__lte", 1)),
                name="project_random_slice_share_is_a_share",
            ),
        ),
        migrations.AddConstraint(
            model_name="membership",
            constraint=models.UniqueConstraint(
                fields=("project", "user"), name="one_membership_per_user"
            ),
        ),
        migrations.AddConstraint(
            model_name="prompt",
            constraint=models.UniqueConstraint(
                fields=("project", "content_hash"), name="one_prompt_per_content"
            ),
        ),
        migrations.AddConstraint(
            model_name="response",
            constraint=models.UniqueConstraint(
                fields=("prompt", "content_hash"), name="one_response_per_content"
            ),
        ),
        migrations.AddIndex(
            model_name="pair",
            index=models.Index(
                models.F("project"),
                models.OrderBy(models.F("priority"), descending=True),
                models.F("tiebreak"),
                condition=models.Q(("status", "pending")),
                name="pair_pending_queue",
            ),
        ),
        migrations.AddIndex(
            model_name="pair",
            index=models.Index(fields=["project", "status"], name="pair_project_status"),
        ),
        migrations.AddConstraint(
            model_name="pair",
            constraint=models.UniqueConstraint(
                fields=("project", "prompt", "response_a", "response_b"),
                name="one_pair_per_responses",
            ),
        ),
        migrations.AddConstraint(
            model_name="pair",
            constraint=models.UniqueConstraint(
                fields=("project", "content_key"), name="one_pair_per_key"
            ),
        ),
        migrations.AddConstraint(
            model_name="pair",
            constraint=models.CheckConstraint(
                condition=models.Q(("response_a", models.F("response_b")), _negated=True),
                name="pair_of_two_responses",
            ),
        ),
    ]
