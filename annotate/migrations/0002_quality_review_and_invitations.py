"""Gold checks, pausing and adaptive overlap; judgement review; archived projects; invitations.

Also the indexes the data browser sorts by (priority, votes).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [
        ("annotate", "0004_i11_quality"),
        ("annotate", "0006_merge_i11"),
        ("annotate", "0003_i13_review_archive_invitations"),
    ]

    dependencies = [
        ("annotate", "0001_projects_pairs_and_judgements"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Invitation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token_hash", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                ("used_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="ReviewEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[("invalidated", "Invalidated"), ("restored", "Restored")],
                        max_length=12,
                    ),
                ),
                ("reason", models.TextField(blank=True)),
                ("at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["at", "pk"],
            },
        ),
        migrations.AddField(
            model_name="judgement",
            name="invalid_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="judgement",
            name="invalidated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="judgement",
            name="invalidated_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="membership",
            name="paused_reason",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="membership",
            name="reinstated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="pair",
            name="extra_judgements",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="project",
            name="archived_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="project",
            name="deleted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="project",
            name="exclude_flagged_from_training",
            field=models.BooleanField(
                default=False, help_text="Leave flagged annotators' judgements out of training."
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="gold_from_unanimous",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Make a pair a gold check when it completes with 3 or more identical votes "
                    "(its votes then count toward accuracy, not training)."
                ),
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="gold_min_accuracy",
            field=models.FloatField(
                default=0.7, help_text="Annotators below this gold accuracy are paused."
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="gold_min_answers",
            field=models.PositiveIntegerField(
                default=10, help_text="Gold answers before an annotator can be paused for accuracy."
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="gold_rate",
            field=models.FloatField(
                default=0.0, help_text="Share of leases that are hidden gold checks (0: off)."
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="max_judgements_per_pair",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text=(
                    "Adaptive overlap: a pair whose votes disagree gets more, up to this many "
                    "(empty: the same as judgements_per_pair)."
                ),
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="pair",
            index=models.Index(
                models.F("project"),
                models.OrderBy(models.F("priority"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                name="pair_by_priority",
            ),
        ),
        migrations.AddIndex(
            model_name="pair",
            index=models.Index(
                models.F("project"),
                models.OrderBy(models.F("judgement_count"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                name="pair_by_votes",
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.CheckConstraint(
                condition=models.Q(("gold_rate__gte", 0), ("gold_rate__lte", 1)),
                name="project_gold_rate_0_to_1",
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.CheckConstraint(
                condition=models.Q(("gold_min_accuracy__gte", 0), ("gold_min_accuracy__lte", 1)),
                name="project_gold_accuracy_0_to_1",
            ),
        ),
        migrations.AddField(
            model_name="invitation",
            name="created_by",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="invitation",
            name="project",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="invitations",
                to="annotate.project",
            ),
        ),
        migrations.AddField(
            model_name="invitation",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="invitations",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="reviewevent",
            name="by",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="reviewevent",
            name="judgement",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="reviews",
                to="annotate.judgement",
            ),
        ),
    ]
