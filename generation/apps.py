from __future__ import annotations

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Generation from model endpoints"

    def ready(self) -> None:
        # The judges' tables live in their own module (it builds on generation.models, so
        # models.py cannot import it back); importing it here registers them and connects
        # the receiver that hands judge votes to annotate.
        from annotate.statistics import register_statistic, statistics_state
        from generation import judges_models  # noqa: F401
        from generation.judges_board import JUDGE_BOARD, compute_side_by_side, judges_state

        register_statistic(JUDGE_BOARD, compute_side_by_side)
        statistics_state.connect(judges_state, dispatch_uid="generation-statistics-state")
