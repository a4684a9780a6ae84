"""Checks on each version (length baseline, label value, reward stats); external models."""

from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [
        ("rewards", "0002_i14_baseline_and_reward_stats"),
        ("rewards", "0003_i14_external_models"),
        ("rewards", "0004_i14_label_value"),
        ("rewards", "0005_merge_i14"),
    ]

    dependencies = [
        ("rewards", "0001_reward_models_and_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="rewardmodel",
            name="baseline",
            field=models.JSONField(
                blank=True, default=dict, help_text="against a length-only model on the same pairs"
            ),
        ),
        migrations.AddField(
            model_name="rewardmodel",
            name="label_value",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="model-chosen vs random labels, same count, same test",
            ),
        ),
        migrations.AddField(
            model_name="rewardmodel",
            name="name",
            field=models.CharField(
                blank=True, help_text="an external model's name", max_length=200
            ),
        ),
        migrations.AddField(
            model_name="rewardmodel",
            name="reward_stats",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="mean, std, n of its rewards over the project's responses",
            ),
        ),
        migrations.AlterField(
            model_name="rewardmodel",
            name="mode",
            field=models.CharField(
                choices=[
                    ("heads", "Heads (frozen backbone)"),
                    ("finetune", "Fine-tune"),
                    ("external", "External (uploaded scores)"),
                ],
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="trainingrun",
            name="mode",
            field=models.CharField(
                choices=[
                    ("heads", "Heads (frozen backbone)"),
                    ("finetune", "Fine-tune"),
                    ("external", "External (uploaded scores)"),
                ],
                default="heads",
                max_length=10,
            ),
        ),
    ]
