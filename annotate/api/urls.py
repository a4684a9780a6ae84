from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

import config.converters  # noqa: F401  (registers <id:...>)
from annotate.api.importing import ImportJobView
from annotate.api.judging import JudgementView, NextPairView, SkipView, StatsView
from annotate.api.leaderboard import LeaderboardView
from annotate.api.projects import ProjectViewSet
from annotate.api.quality import AnnotatorPauseView, QualityView

# Accept paths with and without the trailing slash (`/api/projects/demo/members`).
router = SimpleRouter()
router.trailing_slash = "/?"
router.register("projects", ProjectViewSet, basename="project")

urlpatterns = [
    path("projects/<slug:slug>/next", NextPairView.as_view(), name="next-pair"),
    path("projects/<slug:slug>/stats", StatsView.as_view(), name="project-stats"),
    path("projects/<slug:slug>/leaderboard", LeaderboardView.as_view(), name="leaderboard-api"),
    path("projects/<slug:slug>/quality", QualityView.as_view(), name="project-quality"),
    *(
        path(
            f"projects/<slug:slug>/annotators/<id:user_id>/{action}",
            AnnotatorPauseView.as_view(),
            {"action": action},
            name=f"annotator-{action}",
        )
        for action in ("pause", "reinstate")
    ),
    path("assignments/<id:pk>/judgement", JudgementView.as_view(), name="judgement"),
    path("assignments/<id:pk>/skip", SkipView.as_view(), name="skip"),
    *router.urls,
    path("imports/<id:pk>", ImportJobView.as_view(), name="import-detail"),
]
