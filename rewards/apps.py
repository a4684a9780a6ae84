from __future__ import annotations

from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Reward models"

    def ready(self) -> None:
        from annotate.signals import (
            leaderboard_built,
            pair_details,
            pair_sorts,
            responses_imported,
        )
        from annotate.statistics import register_statistic, statistics_state
        from rewards.model_ratings import on_leaderboard_built
        from rewards.pair_rewards import on_pair_details, on_pair_sorts
        from rewards.random_slice import RANDOM_SLICE, compute_slice_tables, models_state
        from rewards.triggers import on_responses_imported

        responses_imported.connect(on_responses_imported, dispatch_uid="rewards-embed-ahead")
        leaderboard_built.connect(on_leaderboard_built, dispatch_uid="rewards-leaderboard")
        pair_details.connect(on_pair_details, dispatch_uid="rewards-pair-rewards")
        pair_sorts.connect(on_pair_sorts, dispatch_uid="rewards-margin-sort")
        register_statistic(RANDOM_SLICE, compute_slice_tables)
        statistics_state.connect(models_state, dispatch_uid="rewards-statistics-state")
