"""Import progress and heartbeats; stored reward margins; the random-slice lease index."""

from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [
        ("annotate", "0009_i15_import_progress"),
        ("annotate", "0010_import_heartbeat"),
        ("annotate", "0011_pair_reward_margin"),
        ("annotate", "0012_pair_pending_random"),
    ]

    dependencies = [
        ("annotate", "0003_text_search_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="importjob",
            name="progress",
            field=models.FloatField(default=0.0),
        ),
        migrations.AddField(
            model_name="pair",
            name="margin_version",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="pair",
            name="reward_margin",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="pair",
            index=models.Index(
                fields=["project", "margin_version", "reward_margin", "id"], name="pair_by_margin"
            ),
        ),
        migrations.AddIndex(
            model_name="pair",
            index=models.Index(
                models.F("project"),
                models.F("tiebreak"),
                models.F("id"),
                condition=models.Q(("status", "pending")),
                name="pair_pending_random",
            ),
        ),
    ]
