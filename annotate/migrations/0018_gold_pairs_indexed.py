"""The gold pairs of a project in their random order, so a gold draw reads a few index entries
instead of every pair of the project.

Partial: a pair without gold has no entry, so imports write nothing more for it.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0017_reward_max_tokens"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="pair",
            index=models.Index(
                models.F("project"),
                models.F("tiebreak"),
                models.F("id"),
                condition=~models.Q(gold_label=""),
                name="pair_gold_by_tiebreak",
            ),
        ),
    ]
