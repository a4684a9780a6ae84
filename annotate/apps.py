from __future__ import annotations

from django.apps import AppConfig


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = "Annotation"

    def ready(self) -> None:
        from annotate.projects.counts import PROJECT_COUNTS, compute_counts, counts_state
        from annotate.statistics import register_statistic, statistics_state

        register_statistic(PROJECT_COUNTS, compute_counts)
        statistics_state.connect(counts_state, dispatch_uid="annotate-counts-state")
