"""Statistics computed by a worker and served as stored (leaderboard, quality, random slice)."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0009_drop_indexes_unique_constraints_cover"),
    ]

    operations = [
        migrations.CreateModel(
            name="StatisticsSnapshot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=30)),
                ("variant", models.CharField(blank=True, max_length=300)),
                ("state", models.CharField(blank=True, max_length=200)),
                ("votes_reflected", models.PositiveIntegerField(default=0)),
                ("computed_at", models.DateTimeField(blank=True, null=True)),
                ("computed_by", models.CharField(blank=True, max_length=200)),
                ("requested_at", models.DateTimeField(blank=True, null=True)),
                ("votes_seen", models.PositiveIntegerField(blank=True, null=True)),
                ("seen_at", models.DateTimeField(blank=True, null=True)),
                ("read_at", models.DateTimeField(blank=True, null=True)),
                ("payload", models.JSONField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="statistics_snapshots",
                        to="annotate.project",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("project", "kind", "variant"), name="statistics_snapshot_unique"
                    )
                ],
            },
        ),
    ]
