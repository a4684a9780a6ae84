"""Reward model versions, their training, embedding and scoring runs, and response scores.

Squashing left out the replaced chain's data step (versions served before the re-rank
fields existed count as re-ranked): this runs only where no reward model exists yet.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("rewards", "0001_initial"),
        ("rewards", "0002_i9_rerank_state"),
        ("rewards", "0003_i9_one_job_status"),
    ]

    dependencies = [
        ("annotate", "0001_projects_pairs_and_judgements"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="EmbeddingRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
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
                ("progress", models.FloatField(default=0.0)),
                ("total", models.PositiveIntegerField(default=0)),
                ("embedded", models.PositiveIntegerField(default=0)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="embedding_runs",
                        to="annotate.project",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="RewardModel",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.PositiveIntegerField()),
                (
                    "mode",
                    models.CharField(
                        choices=[("heads", "Heads (frozen backbone)"), ("finetune", "Fine-tune")],
                        max_length=10,
                    ),
                ),
                ("backbone", models.CharField(max_length=500)),
                ("config", models.JSONField(default=dict)),
                (
                    "metrics",
                    models.JSONField(
                        default=dict, help_text="accuracy, log_loss, ece, n on validation"
                    ),
                ),
                ("artifact", models.FileField(blank=True, upload_to="reward-models/")),
                (
                    "judgements",
                    models.PositiveIntegerField(default=0, help_text="judgements trained on"),
                ),
                ("last_judgement_id", models.BigIntegerField(default=0)),
                ("training_seconds", models.FloatField(default=0.0)),
                ("trained_at", models.DateTimeField(auto_now_add=True)),
                ("is_active", models.BooleanField(default=False)),
                ("promotion_note", models.CharField(blank=True, max_length=500)),
                ("rerank_attempts", models.PositiveSmallIntegerField(default=0)),
                ("rerank_error", models.TextField(blank=True)),
                ("reranked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reward_models",
                        to="annotate.project",
                    ),
                ),
            ],
            options={
                "ordering": ["-version"],
            },
        ),
        migrations.CreateModel(
            name="ResponseScore",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("mean", models.FloatField()),
                ("std", models.FloatField()),
                ("members", models.JSONField(default=list)),
                (
                    "response",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="scores",
                        to="annotate.response",
                    ),
                ),
                (
                    "model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="scores",
                        to="rewards.rewardmodel",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="ScoreRequest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("payload", models.JSONField()),
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
                ("result", models.JSONField(blank=True, default=list)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="rewards.rewardmodel",
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="annotate.project",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="TrainingRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
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
                (
                    "trigger",
                    models.CharField(
                        choices=[("manual", "Manual"), ("threshold", "New judgements")],
                        default="manual",
                        max_length=10,
                    ),
                ),
                (
                    "mode",
                    models.CharField(
                        choices=[("heads", "Heads (frozen backbone)"), ("finetune", "Fine-tune")],
                        default="heads",
                        max_length=10,
                    ),
                ),
                (
                    "options",
                    models.JSONField(blank=True, default=dict, help_text="TrainConfig overrides"),
                ),
                ("progress", models.FloatField(default=0.0)),
                ("message", models.CharField(blank=True, max_length=500)),
                ("error", models.TextField(blank=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("last_judgement_id", models.BigIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "model",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="runs",
                        to="rewards.rewardmodel",
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="training_runs",
                        to="annotate.project",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.AddConstraint(
            model_name="rewardmodel",
            constraint=models.UniqueConstraint(
                fields=("project", "version"), name="one_version_number"
            ),
        ),
        migrations.AddConstraint(
            model_name="rewardmodel",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_active", True)),
                fields=("project",),
                name="one_active_model",
            ),
        ),
        migrations.AddConstraint(
            model_name="responsescore",
            constraint=models.UniqueConstraint(
                fields=("response", "model"), name="one_score_per_model"
            ),
        ),
        migrations.AddConstraint(
            model_name="trainingrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["queued", "running"])),
                fields=("project",),
                name="one_live_run_per_project",
            ),
        ),
    ]
