"""A project may say how many tokens of prompt and response its reward model reads.

Nullable, so SQLite adds the column in place (no table rebuild).
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0016_text_search_filled_by_worker"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="reward_max_tokens",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Tokens of prompt and response the reward model reads; the prompt is cut from its start (empty: the site's default, 256; a run's max_length overrides it).",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(16),
                    django.core.validators.MaxValueValidator(32768),
                ],
            ),
        ),
    ]
