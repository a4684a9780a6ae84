from __future__ import annotations

from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Reward models"

    def ready(self) -> None:
        from annotate.signals import leaderboard_built, responses_imported
        from rewards.leaderboard import on_leaderboard_built
        from rewards.triggers import on_responses_imported

        responses_imported.connect(on_responses_imported, dispatch_uid="rewards-embed-ahead")
        leaderboard_built.connect(on_leaderboard_built, dispatch_uid="rewards-leaderboard")
